from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('merchants', '0001_initial')]

    initial = True

    operations = [
        ops.CreateModel(
            name='Offer',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('merchant', fields.ForeignKeyField('merchants.Merchant', source_field='merchant_id', db_constraint=True, to_field='id', related_name='offers', on_delete=OnDelete.RESTRICT)),
                ('status', fields.CharField(max_length=20)),
                ('scenario', fields.CharField(max_length=16)),
                ('type', fields.CharField(max_length=20)),
                ('label', fields.CharField(max_length=64)),
                ('value', fields.IntField(null=True)),
                ('min_tier', fields.CharField(max_length=8)),
                ('requires_claim', fields.BooleanField(default=False)),
                ('valid_from', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('valid_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('total_stock', fields.IntField(null=True)),
                ('redeemed_count', fields.IntField(default=0)),
                ('per_resident_limit', fields.IntField(null=True)),
                ('per_resident_period', fields.CharField(null=True, max_length=8)),
                ('all_stores', fields.BooleanField(default=False)),
                ('stores', fields.ManyToManyField('merchants.Store', unique=True, db_constraint=True, through='offer_stores', forward_key='store_id', backward_key='offer_id', related_name='offers', on_delete=OnDelete.CASCADE)),
                ('created_by_id', fields.UUIDField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('approved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('approved_by_id', fields.UUIDField(null=True)),
                ('review_note', fields.CharField(null=True, max_length=500)),
            ],
            options={'table': 'offers', 'app': 'coupons', 'indexes': [Index(fields=['merchant_id', 'status']), Index(fields=['status', 'valid_until'])], 'pk_attr': 'id', 'table_description': 'A benefit a merchant grants at some of its stores to residents of ``min_tier`` or better.'},
            bases=['Model'],
        ),
    ]
