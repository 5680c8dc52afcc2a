from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Resident',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('openid', fields.CharField(unique=True, max_length=64)),
                ('unionid', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('consent_version', fields.CharField(null=True, max_length=32)),
                ('consented_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('name_enc', fields.TextField(null=True, unique=False)),
                ('id_number_enc', fields.TextField(null=True, unique=False)),
                ('id_number_hash', fields.CharField(null=True, unique=True, max_length=64)),
                ('phone_enc', fields.TextField(null=True, unique=False)),
                ('phone_hash', fields.CharField(null=True, db_index=True, max_length=64)),
                ('identity_bound_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'residents', 'app': 'residents', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConsentEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('resident', fields.ForeignKeyField('residents.Resident', source_field='resident_id', db_constraint=True, to_field='id', related_name='consent_events', on_delete=OnDelete.CASCADE)),
                ('version', fields.CharField(max_length=32)),
                ('action', fields.CharField(max_length=16)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'consent_events', 'app': 'residents', 'pk_attr': 'id', 'table_description': 'Every acceptance or withdrawal of the privacy terms, kept as evidence.'},
            bases=['Model'],
        ),
    ]
