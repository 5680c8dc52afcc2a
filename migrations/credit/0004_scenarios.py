from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('credit', '0003_record_notice_and_dispute'), ('residents', '0003_resident_numbers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CreditReport',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='reports', on_delete=OnDelete.CASCADE)),
                ('resident_id', fields.UUIDField()),
                ('partner_id', fields.UUIDField()),
                ('purpose', fields.CharField(max_length=64)),
                ('kid', fields.CharField(max_length=16)),
                ('payload', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'credit_reports', 'app': 'credit', 'indexes': [Index(fields=['resident_id', 'issued_at'])], 'pk_attr': 'id', 'table_description': 'A signed credit report issued to a partner (信易贷): what was disclosed, to whom, why, until when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProfessionalLicence',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='licences', on_delete=OnDelete.CASCADE)),
                ('profession', fields.CharField(max_length=24)),
                ('licence_no', fields.CharField(max_length=64)),
                ('status', fields.CharField(default='valid', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'credit_licences', 'app': 'credit', 'unique_together': (('profession', 'licence_no'),), 'pk_attr': 'id', 'table_description': "A key profession's licence (a tour guide's 导游证) as the records that carry it name it."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ThirdPartyScore',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='third_party_scores', on_delete=OnDelete.CASCADE)),
                ('partner_id', fields.UUIDField()),
                ('provider', fields.CharField(max_length=128)),
                ('score', fields.FloatField()),
                ('scale_min', fields.FloatField()),
                ('scale_max', fields.FloatField()),
                ('as_of', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('valid_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(default='active', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'credit_third_party_scores', 'app': 'credit', 'unique_together': (('partner_id', 'subject_id'),), 'pk_attr': 'id', 'table_description': "A scoring provider's score of a subject on its own scale (one row per provider and subject)."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='CreditRecord',
            name='licence_no',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='CreditRecord',
            name='profession',
            field=fields.CharField(null=True, max_length=24),
        ),
        ops.AddIndex(
            model_name='CreditRecord',
            index=Index(fields=['profession', 'licence_no']),
        ),
    ]
