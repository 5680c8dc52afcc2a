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
            name='Attachment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('resident_id', fields.UUIDField(db_index=True)),
                ('content_type', fields.CharField(max_length=32)),
                ('size', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('storage_key', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'attachments', 'app': 'rights', 'pk_attr': 'id', 'table_description': 'A file a resident uploaded as evidence (JPEG, PNG or PDF, judged from its bytes), kept outside the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CaseEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('case_kind', fields.CharField(max_length=16)),
                ('case_id', fields.UUIDField()),
                ('from_state', fields.CharField(null=True, max_length=16)),
                ('to_state', fields.CharField(max_length=16)),
                ('actor', fields.CharField(max_length=64)),
                ('reason', fields.TextField(unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'case_events', 'app': 'rights', 'indexes': [Index(fields=['case_kind', 'case_id', 'at'])], 'pk_attr': 'id', 'table_description': "One step of a case, kept for good: the audit trail and a list entry's transitions."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ListEntry',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('record_id', fields.BigIntField(unique=True)),
                ('subject_id', fields.BigIntField(db_index=True)),
                ('kind', fields.CharField(max_length=8)),
                ('list_category', fields.CharField(max_length=48)),
                ('basis', fields.TextField(unique=False)),
                ('state', fields.CharField(db_index=True, max_length=12)),
                ('origin', fields.CharField(default='regulator', max_length=16)),
                ('created_by', fields.UUIDField(null=True)),
                ('publicity_ending_noticed', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'list_entries', 'app': 'rights', 'pk_attr': 'id', 'table_description': 'A red or black list entry: its credit record (category ``red_list``/``black_list``) and its lifecycle.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Objection',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('resident_id', fields.UUIDField(db_index=True)),
                ('target', fields.CharField(max_length=8)),
                ('record_id', fields.BigIntField(null=True)),
                ('reason', fields.TextField(unique=False)),
                ('attachment_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharField(default='open', max_length=10)),
                ('previous_record_status', fields.CharField(null=True, max_length=16)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decided_by', fields.UUIDField(null=True)),
                ('note', fields.TextField(null=True, unique=False)),
                ('correction', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'objections', 'app': 'rights', 'indexes': [Index(fields=['status', 'due_at'])], 'pk_attr': 'id', 'table_description': "异议: on one of the resident's records (``target`` ``record``) or asking a human to review the score"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RegulatorRead',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('resident_id', fields.UUIDField()),
                ('admin_id', fields.UUIDField()),
                ('purpose', fields.CharField(max_length=32)),
                ('case_kind', fields.CharField(max_length=16)),
                ('case_id', fields.UUIDField()),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'regulator_reads', 'app': 'rights', 'indexes': [Index(fields=['resident_id', 'at'])], 'pk_attr': 'id', 'table_description': "A regulator read a resident's case: it shows in the resident's access log."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Repair',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('resident_id', fields.UUIDField(db_index=True)),
                ('record_id', fields.BigIntField()),
                ('commitment', fields.TextField(unique=False)),
                ('attachment_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharField(default='under_review', max_length=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decided_by', fields.UUIDField(null=True)),
                ('note', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'repairs', 'app': 'rights', 'indexes': [Index(fields=['status', 'created_at'])], 'pk_attr': 'id', 'table_description': "信用修复: the resident's credit commitment (信用承诺) to have a record stop counting early."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SelfReport',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('resident_id', fields.UUIDField(db_index=True)),
                ('category', fields.CharField(max_length=16)),
                ('title', fields.CharField(max_length=120)),
                ('description', fields.TextField(unique=False)),
                ('occurred_at', fields.DateField()),
                ('attachment_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharField(default='under_review', max_length=12)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decided_by', fields.UUIDField(null=True)),
                ('note', fields.TextField(null=True, unique=False)),
                ('record_id', fields.BigIntField(null=True)),
            ],
            options={'table': 'self_reports', 'app': 'rights', 'indexes': [Index(fields=['status', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A positive fact the resident reports (volunteering elsewhere, donation, blood donation, award,'},
            bases=['Model'],
        ),
    ]
