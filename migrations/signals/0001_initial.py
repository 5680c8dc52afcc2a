from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Signal',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(max_length=32)),
                ('merchant_id', fields.UUIDField()),
                ('store_id', fields.UUIDField()),
                ('resident_ref', fields.CharField(default='', max_length=32)),
                ('window_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('window_end', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('count', fields.IntField()),
                ('detail', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'signals', 'app': 'signals', 'unique_together': (('kind', 'store_id', 'window_start', 'resident_ref'),), 'indexes': [Index(fields=['window_start', 'id']), Index(fields=['merchant_id', 'window_start'])], 'pk_attr': 'id', 'table_description': 'Something in the scan log or the ledger a regulator should look at.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SignalWatermark',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('done_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('running_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'signal_watermarks', 'app': 'signals', 'pk_attr': 'name', 'table_description': 'How far detection has looked (``done_until``), and a lease so one run at a time does the work.'},
            bases=['Model'],
        ),
    ]
