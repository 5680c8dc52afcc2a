from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('merchants', '0001_initial'), ('partners', '0001_initial'), ('residents', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Grant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('partners.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='grants', on_delete=OnDelete.CASCADE)),
                ('resident', fields.ForeignKeyField('residents.Resident', source_field='resident_id', db_constraint=True, to_field='id', related_name='partner_grants', on_delete=OnDelete.CASCADE)),
                ('scopes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('partner_user_ref', fields.CharField(max_length=40)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('code_expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('activated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_grants', 'app': 'partners', 'indexes': [Index(fields=['partner_id', 'partner_user_ref']), Index(fields=['resident_id', 'status']), Index(fields=['resident_id', 'created_at'])], 'pk_attr': 'id', 'table_description': "A resident's authorisation of one partner for some scopes."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerAccess',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('partners.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='accesses', on_delete=OnDelete.CASCADE)),
                ('resident', fields.ForeignKeyField('residents.Resident', source_field='resident_id', db_constraint=True, to_field='id', related_name='partner_accesses', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharField(max_length=32)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_accesses', 'app': 'partners', 'indexes': [Index(fields=['resident_id', 'at'])], 'pk_attr': 'id', 'table_description': "A partner's read or verification of a resident's data, for the resident's access log."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerMerchant',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('partners.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='merchant_links', on_delete=OnDelete.CASCADE)),
                ('merchant', fields.ForeignKeyField('merchants.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='partner_links', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'partner_merchants', 'app': 'partners', 'unique_together': (('partner_id', 'merchant_id'),), 'pk_attr': 'id', 'table_description': 'A merchant whose offers a partner may redeem online (the 信用合作联盟 agreement).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('partners.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='webhook_deliveries', on_delete=OnDelete.CASCADE)),
                ('type', fields.CharField(max_length=32)),
                ('body', fields.TextField(unique=False)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('window_started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_by', fields.CharField(null=True, max_length=64)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_deliveries', 'app': 'partners', 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['partner_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One webhook event for one partner: the transactional outbox and the delivery state in one row.'},
            bases=['Model'],
        ),
    ]
