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
            name='OfflineRedemption',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('offline_scan_id', fields.UUIDField()),
                ('position', fields.SmallIntField()),
                ('merchant_id', fields.UUIDField()),
                ('store_id', fields.UUIDField()),
                ('offer_id', fields.UUIDField()),
                ('order_amount_fen', fields.BigIntField(null=True)),
                ('outcome', fields.CharField(max_length=16)),
                ('reason', fields.CharField(null=True, max_length=32)),
                ('redemption_id', fields.UUIDField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'offline_redemptions', 'app': 'offline', 'unique_together': (('offline_scan_id', 'position'),), 'indexes': [Index(fields=['merchant_id', 'outcome', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A redemption a device granted offline: taken by the ledger (``redeemed``, with its id) or not'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OfflineScan',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('merchant_id', fields.UUIDField()),
                ('store_id', fields.UUIDField()),
                ('device_id', fields.CharField(max_length=64)),
                ('seq', fields.BigIntField()),
                ('staff_id', fields.UUIDField()),
                ('jti', fields.CharField(null=True, max_length=32)),
                ('resident_id', fields.UUIDField(null=True)),
                ('scanned_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('uploaded_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('outcome', fields.CharField(max_length=16)),
                ('reason', fields.CharField(null=True, max_length=32)),
                ('result', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'offline_scans', 'app': 'offline', 'unique_together': (('merchant_id', 'device_id', 'seq'),), 'indexes': [Index(fields=['store_id', 'uploaded_at']), Index(fields=['store_id', 'outcome', 'uploaded_at'])], 'pk_attr': 'id', 'table_description': 'One uploaded item: a pass a device scanned with no network, and what became of it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TierMove',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('resident_id', fields.UUIDField()),
                ('from_tier', fields.CharField(max_length=16)),
                ('to_tier', fields.CharField(max_length=16)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'offline_tier_moves', 'app': 'offline', 'indexes': [Index(fields=['resident_id', 'at'])], 'pk_attr': 'id', 'table_description': "A change of a resident's live tier (credit's tier-change hook): the revocation sets of offline"},
            bases=['Model'],
        ),
    ]
