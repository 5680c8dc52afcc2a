from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('rights', '0002_one_open_case_per_record')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='CaseEvent',
            index=Index(fields=['case_kind', 'id']),
        ),
        ops.AddField(
            model_name='ListEntry',
            name='region',
            field=fields.CharField(null=True, db_index=True, max_length=6),
        ),
    ]
