from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="CaseAssignment",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("kind", fields.CharField(max_length=16)),
                ("case_id", fields.CharField(max_length=64)),
                ("admin_id", fields.UUIDField()),
                ("assigned_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("assigned_by", fields.UUIDField()),
            ],
            options={
                "table": "case_assignments",
                "app": "casework",
                "unique_together": (("kind", "case_id"),),
                "indexes": [Index(fields=["admin_id", "kind"])],
                "pk_attr": "id",
                "table_description": "A case given to a regulator. One row per case (``kind``, ``case_id``): reassigning replaces it.",
            },
            bases=["Model"],
        ),
    ]
