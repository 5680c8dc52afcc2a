from tortoise import migrations
from tortoise.migrations import operations as ops
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('resident_id', fields.UUIDField(db_index=True)),
                ('kind', fields.CharField(max_length=32)),
                ('title', fields.CharField(max_length=120)),
                ('body', fields.TextField(unique=False)),
                ('case_kind', fields.CharField(null=True, max_length=24)),
                ('case_id', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('subscribe_status', fields.CharField(default='none', max_length=8)),
                ('subscribe_error', fields.CharField(null=True, max_length=200)),
            ],
            options={'table': 'notifications', 'app': 'notices', 'indexes': [Index(fields=['resident_id', 'created_at']), Index(fields=['subscribe_status', 'created_at'])], 'pk_attr': 'id', 'table_description': "One notice in a resident's inbox. ``subscribe_status``: ``none`` (no WeChat message: no acceptance"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubscribeAllowance',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('resident_id', fields.UUIDField()),
                ('template', fields.CharField(max_length=32)),
                ('remaining', fields.IntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'subscribe_allowances', 'app': 'notices', 'unique_together': (('resident_id', 'template'),), 'pk_attr': 'id', 'table_description': 'How many subscribe messages of a template the resident has accepted and not yet been sent.'},
            bases=['Model'],
        ),
    ]
