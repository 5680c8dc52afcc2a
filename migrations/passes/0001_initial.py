from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='PassKey',
            fields=[
                ('kid', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=16)),
                ('seed_enc', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('retired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pass_keys', 'app': 'passes', 'pk_attr': 'kid', 'table_description': 'An Ed25519 pass signing key: the 32-byte seed, AES-GCM encrypted with the data key.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Scan',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('merchant_id', fields.UUIDField()),
                ('store_id', fields.UUIDField()),
                ('staff_id', fields.UUIDField()),
                ('resident_id', fields.UUIDField(null=True)),
                ('outcome', fields.CharField(max_length=16)),
                ('reason', fields.CharField(null=True, max_length=32)),
                ('tier', fields.CharField(null=True, max_length=16)),
                ('jti', fields.CharField(null=True, max_length=32)),
                ('offers', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('idempotency_key', fields.CharField(null=True, max_length=128)),
                ('request_hash', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pass_scans', 'app': 'passes', 'unique_together': (('staff_id', 'idempotency_key'),), 'indexes': [Index(fields=['merchant_id', 'created_at']), Index(fields=['resident_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One scan of a pass by merchant staff, accepted or refused, with the reason code.'},
            bases=['Model'],
        ),
    ]
