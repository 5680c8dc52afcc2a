"""At most one active ruleset: a partial unique index (PostgreSQL and SQLite both have them).

Two regulators activating different versions at the same moment would otherwise both win.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("credit", "0001_initial")]

    operations = [
        ops.RunSQL(
            "CREATE UNIQUE INDEX credit_rulesets_one_active ON credit_rulesets (status) WHERE status = 'active'",
            reverse_sql="DROP INDEX credit_rulesets_one_active",
        ),
    ]
