from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('residents', '0003_resident_numbers')]

    initial = True

    operations = [
        ops.CreateModel(
            name='Commitment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('partner_id', fields.UUIDField()),
                ('resident', fields.ForeignKeyField('residents.Resident', source_field='resident_id', db_constraint=True, to_field='id', related_name='commitments', on_delete=OnDelete.CASCADE)),
                ('external_id', fields.CharField(max_length=128)),
                ('request_hash', fields.CharField(max_length=64)),
                ('matter', fields.CharField(max_length=255)),
                ('missing_items', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('tier_at_acceptance', fields.CharField(max_length=16)),
                ('record_id', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('fulfilled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('broken_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'commitments', 'app': 'commitments', 'unique_together': (('partner_id', 'external_id'),), 'indexes': [Index(fields=['status', 'due_at']), Index(fields=['resident_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One 容缺受理 commitment: the office, the matter, the items still missing, the deadline.'},
            bases=['Model'],
        ),
    ]
