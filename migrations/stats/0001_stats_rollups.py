from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='DailyCell',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('store_id', fields.UUIDField(null=True)),
                ('offer_id', fields.UUIDField(null=True)),
                ('tier', fields.CharField(null=True, max_length=16)),
                ('merchant_id', fields.UUIDField()),
                ('region', fields.CharField(max_length=6)),
                ('scenario', fields.CharField(null=True, max_length=16)),
                ('scans_accepted', fields.IntField(default=0)),
                ('scans_refused', fields.IntField(default=0)),
                ('redemptions', fields.IntField(default=0)),
                ('discount_fen', fields.BigIntField(default=0)),
                ('deposit_waived_fen', fields.BigIntField(default=0)),
                ('resident_count', fields.IntField(default=0)),
                ('residents', fields.BinaryField()),
            ],
            options={'table': 'stats_daily', 'app': 'stats', 'indexes': [Index(fields=['day', 'region']), Index(fields=['merchant_id', 'day'])], 'pk_attr': 'id', 'table_description': 'One China Standard Time business day of one store, one offer (null: the scans) and one tier.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DailyRegion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('level', fields.SmallIntField()),
                ('region', fields.CharField(max_length=6)),
                ('scans_accepted', fields.IntField(default=0)),
                ('scans_refused', fields.IntField(default=0)),
                ('redemptions', fields.IntField(default=0)),
                ('discount_fen', fields.BigIntField(default=0)),
                ('deposit_waived_fen', fields.BigIntField(default=0)),
                ('resident_count', fields.IntField(default=0)),
                ('residents', fields.BinaryField()),
            ],
            options={'table': 'stats_daily_regions', 'app': 'stats', 'unique_together': (('level', 'day', 'region'),), 'pk_attr': 'id', 'table_description': 'The coarser rollup: one day of one region, all stores, offers and tiers, at three levels.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RollupMark',
            fields=[
                ('source', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=16)),
                ('watermark', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('seen', fields.IntField(default=0)),
            ],
            options={'table': 'stats_rollup_marks', 'app': 'stats', 'pk_attr': 'source', 'table_description': 'How far the rollup has read a source (scans, redemptions, reversals): its watermark.'},
            bases=['Model'],
        ),
    ]
