from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('residents', '0001_initial')]

    initial = True

    operations = [
        ops.CreateModel(
            name='Ruleset',
            fields=[
                ('version', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('data', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharField(default='draft', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('activated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'credit_rulesets', 'app': 'credit', 'pk_attr': 'version', 'table_description': 'A versioned scoring ruleset, as data. Exactly one is active at a time.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Subject',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject_type', fields.CharField(default='natural_person', max_length=24)),
                ('id_hash', fields.CharField(max_length=64)),
                ('name_enc', fields.TextField(null=True, unique=False)),
                ('resident', fields.OneToOneField('residents.Resident', source_field='resident_id', null=True, db_constraint=True, to_field='id', related_name='credit_subject', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'credit_subjects', 'app': 'credit', 'unique_together': (('subject_type', 'id_hash'),), 'pk_attr': 'id', 'table_description': 'Whoever credit records are about (natural person first, legal persons later).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CreditRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='records', on_delete=OnDelete.CASCADE)),
                ('source', fields.CharField(max_length=64)),
                ('source_record_id', fields.CharField(max_length=128)),
                ('category', fields.CharField(max_length=32)),
                ('severity', fields.CharField(null=True, max_length=16)),
                ('title', fields.CharField(max_length=255)),
                ('decided_at', fields.DateField()),
                ('publicity_until', fields.DateField(null=True)),
                ('status', fields.CharField(default='active', max_length=16)),
                ('content_hash', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'credit_records', 'app': 'credit', 'unique_together': (('source', 'source_record_id'),), 'indexes': [Index(fields=['subject_id', 'decided_at'])], 'pk_attr': 'id', 'table_description': 'One public credit record, idempotent by (source, source_record_id).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CreditScore',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.OneToOneField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='score', on_delete=OnDelete.CASCADE)),
                ('score', fields.IntField()),
                ('tier', fields.CharField(max_length=16)),
                ('ruleset_version', fields.CharField(max_length=32)),
                ('as_of', fields.DateField()),
                ('factors', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('next_tier', fields.CharField(null=True, max_length=16)),
                ('points_needed', fields.IntField(null=True)),
                ('computed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'credit_scores', 'app': 'credit', 'pk_attr': 'id', 'table_description': 'The current score of a subject (one row per subject), read on every scan for the live tier.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ScoreHistory',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='score_history', on_delete=OnDelete.CASCADE)),
                ('score', fields.IntField()),
                ('tier', fields.CharField(max_length=16)),
                ('previous_tier', fields.CharField(null=True, max_length=16)),
                ('ruleset_version', fields.CharField(max_length=32)),
                ('reason', fields.CharField(max_length=64)),
                ('computed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'credit_score_history', 'app': 'credit', 'indexes': [Index(fields=['subject_id', 'id'])], 'pk_attr': 'id', 'table_description': 'A score that changed, with why (record added, ruleset activated, daily decay …).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VolunteerRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('credit.Subject', source_field='subject_id', db_constraint=True, to_field='id', related_name='volunteer_records', on_delete=OnDelete.CASCADE)),
                ('partner_id', fields.UUIDField(db_index=True)),
                ('external_id', fields.CharField(max_length=128)),
                ('activity', fields.CharField(max_length=255)),
                ('organization', fields.CharField(max_length=255)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('hours', fields.DecimalField(max_digits=5, decimal_places=2)),
                ('status', fields.CharField(default='active', max_length=16)),
                ('duplicate_of', fields.ForeignKeyField('credit.VolunteerRecord', source_field='duplicate_of_id', null=True, db_constraint=True, to_field='id', related_name='duplicates', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'volunteer_records', 'app': 'credit', 'unique_together': (('partner_id', 'external_id'),), 'indexes': [Index(fields=['subject_id', 'started_at'])], 'pk_attr': 'id', 'table_description': 'Service hours posted by a volunteer platform, idempotent by (partner, external_id).'},
            bases=['Model'],
        ),
    ]
