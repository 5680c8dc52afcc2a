from uuid import uuid4

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.data import JSON_DUMPS
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor_type', fields.CharField(max_length=16)),
                ('actor_id', fields.UUIDField(null=True)),
                ('action', fields.CharField(max_length=32)),
                ('target_type', fields.CharField(max_length=16)),
                ('target_id', fields.UUIDField()),
                ('merchant_id', fields.UUIDField(null=True)),
                ('details', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'audit_entries', 'app': 'redemptions', 'indexes': [Index(fields=['target_type', 'target_id']), Index(fields=['merchant_id', 'at'])], 'pk_attr': 'id', 'table_description': 'Who did what to the ledger, and when: redemptions, reversals, claims, breach reports and decisions.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Breach',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('redemption_id', fields.UUIDField(unique=True)),
                ('merchant_id', fields.UUIDField()),
                ('store_id', fields.UUIDField(null=True)),
                ('offer_id', fields.UUIDField()),
                ('resident_id', fields.UUIDField()),
                ('kind', fields.CharField(max_length=16)),
                ('description', fields.CharField(max_length=1000)),
                ('amount_fen', fields.IntField(null=True)),
                ('status', fields.CharField(max_length=16)),
                ('reported_by_id', fields.UUIDField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decided_by_id', fields.UUIDField(null=True)),
                ('decision_note', fields.CharField(null=True, max_length=500)),
                ('severity', fields.CharField(null=True, max_length=16)),
                ('credit_record_id', fields.BigIntField(null=True)),
            ],
            options={'table': 'breaches', 'app': 'redemptions', 'indexes': [Index(fields=['status', 'created_at']), Index(fields=['merchant_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A merchant report that a resident broke the terms of a benefit (no-show, damage, unpaid).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Coupon',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('offer_id', fields.UUIDField()),
                ('merchant_id', fields.UUIDField()),
                ('resident_id', fields.UUIDField()),
                ('status', fields.CharField(default='active', max_length=16)),
                ('claimed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('redemption_id', fields.UUIDField(null=True)),
            ],
            options={'table': 'coupons', 'app': 'redemptions', 'indexes': [Index(fields=['resident_id', 'claimed_at']), Index(fields=['offer_id', 'resident_id'])], 'pk_attr': 'id', 'table_description': 'A coupon in a resident wallet, claimed for an offer that needs one (requires_claim).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scope', fields.CharField(max_length=64)),
                ('key', fields.CharField(max_length=128)),
                ('request_hash', fields.CharField(max_length=64)),
                ('status_code', fields.SmallIntField()),
                ('response', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'idempotency_records', 'app': 'redemptions', 'unique_together': (('scope', 'key'),), 'indexes': [Index(fields=['expires_at'])], 'pk_attr': 'id', 'table_description': 'The stored answer of a POST made with an Idempotency-Key, replayed for a retry with the same body.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Redemption',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=8)),
                ('merchant_id', fields.UUIDField()),
                ('offer_id', fields.UUIDField()),
                ('resident_id', fields.UUIDField()),
                ('store_id', fields.UUIDField(null=True)),
                ('scan_id', fields.UUIDField(null=True)),
                ('staff_id', fields.UUIDField(null=True)),
                ('partner_id', fields.UUIDField(null=True)),
                ('external_order_id', fields.CharField(null=True, max_length=128)),
                ('coupon_id', fields.UUIDField(null=True)),
                ('offer_type', fields.CharField(max_length=20)),
                ('offer_value', fields.IntField(null=True)),
                ('tier', fields.CharField(max_length=16)),
                ('order_amount_fen', fields.IntField(null=True)),
                ('discount_fen', fields.IntField()),
                ('deposit_waived_fen', fields.IntField()),
                ('period_key', fields.CharField(null=True, max_length=10)),
                ('took_stock', fields.BooleanField()),
                ('request_hash', fields.CharField(null=True, max_length=64)),
                ('status', fields.CharField(max_length=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('business_day', fields.DateField()),
                ('reversed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reversed_by_id', fields.UUIDField(null=True)),
                ('reversal_reason', fields.CharField(null=True, max_length=255)),
            ],
            options={'table': 'redemptions', 'app': 'redemptions', 'unique_together': (('partner_id', 'external_order_id'),), 'indexes': [Index(fields=['merchant_id', 'created_at']), Index(fields=['resident_id', 'created_at']), Index(fields=['offer_id', 'business_day']), Index(fields=['store_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One benefit granted to a resident, at a store (after a scan) or online through a partner.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RedemptionCounter',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('offer_id', fields.UUIDField()),
                ('resident_id', fields.UUIDField()),
                ('period_key', fields.CharField(max_length=10)),
                ('used', fields.IntField(default=0)),
            ],
            options={'table': 'redemption_counters', 'app': 'redemptions', 'unique_together': (('offer_id', 'resident_id', 'period_key'),), 'pk_attr': 'id', 'table_description': 'How many redemptions (claims, for offers that need a coupon) a resident used of an offer in a period.'},
            bases=['Model'],
        ),
    ]
