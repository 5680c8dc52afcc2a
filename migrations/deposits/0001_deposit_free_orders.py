"""Deposit-free orders, their charges and the residents' disputes of them."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ChargeDispute',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('order_id', fields.UUIDField()),
                ('resident_id', fields.UUIDField()),
                ('merchant_id', fields.UUIDField()),
                ('reason', fields.CharField(max_length=1000)),
                ('status', fields.CharField(max_length=12)),
                ('amount_due_before_fen', fields.IntField()),
                ('amount_due_after_fen', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decided_by_id', fields.UUIDField(null=True)),
                ('decision_note', fields.CharField(null=True, max_length=500)),
            ],
            options={'table': 'charge_disputes', 'app': 'deposits', 'indexes': [Index(fields=['status', 'created_at']), Index(fields=['order_id']), Index(fields=['resident_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A resident disputes the charges of an order: a ``charge_dispute`` case for a regulator.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DepositFreeOrder',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('merchant_id', fields.UUIDField()),
                ('store_id', fields.UUIDField()),
                ('resident_id', fields.UUIDField()),
                ('offer_id', fields.UUIDField()),
                ('scan_id', fields.UUIDField()),
                ('redemption_id', fields.UUIDField(null=True)),
                ('scenario', fields.CharField(max_length=16)),
                ('external_order_id', fields.CharField(max_length=128)),
                ('request_hash', fields.CharField(max_length=64)),
                ('risk_amount_fen', fields.IntField()),
                ('expected_end_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(max_length=20)),
                ('amount_due_fen', fields.IntField(null=True)),
                ('paid_fen', fields.IntField(null=True)),
                ('over_risk', fields.BooleanField(default=False)),
                ('settle_by', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('opened_by_id', fields.UUIDField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('completed_by_id', fields.UUIDField(null=True)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('settled_by_id', fields.UUIDField(null=True)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancelled_by_id', fields.UUIDField(null=True)),
                ('overdue_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('suspended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'deposit_free_orders', 'app': 'deposits', 'unique_together': (('merchant_id', 'external_order_id'),), 'indexes': [Index(fields=['merchant_id', 'status', 'created_at']), Index(fields=['resident_id', 'status']), Index(fields=['status', 'settle_by'])], 'pk_attr': 'id', 'table_description': 'A stay or rental opened against a risk amount instead of a deposit (先免后付).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DepositFreeCharge',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('deposits.DepositFreeOrder', source_field='order_id', db_constraint=True, to_field='id', related_name='charges', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharField(max_length=16)),
                ('amount_fen', fields.IntField()),
                ('note', fields.CharField(null=True, max_length=200)),
                ('waived', fields.BooleanField(default=False)),
            ],
            options={'table': 'deposit_free_charges', 'app': 'deposits', 'pk_attr': 'id', 'table_description': 'One itemised charge of a completed order, in fen (``waived`` when a regulator upheld a dispute of it).'},
            bases=['Model'],
        ),
        # One open order per resident and merchant, one open dispute per order: partial unique
        # indexes (PostgreSQL and SQLite both have them). Two desks opening at once get one order.
        ops.RunSQL(
            "CREATE UNIQUE INDEX deposit_free_orders_one_open ON deposit_free_orders (resident_id, merchant_id) "
            "WHERE status = 'open'",
            reverse_sql="DROP INDEX deposit_free_orders_one_open",
        ),
        ops.RunSQL(
            "CREATE UNIQUE INDEX charge_disputes_one_open ON charge_disputes (order_id) WHERE status = 'open'",
            reverse_sql="DROP INDEX charge_disputes_one_open",
        ),
    ]
