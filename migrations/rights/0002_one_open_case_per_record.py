"""One open objection and one repair under review per record: partial unique indexes (PostgreSQL and SQLite both have them).

Two taps on "submit" must not open two cases on the same record; decided cases drop out of the
index, so a record may be contested again after a decision.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("rights", "0001_initial")]

    operations = [
        ops.RunSQL(
            "CREATE UNIQUE INDEX objections_one_open_per_record ON objections (record_id) WHERE status = 'open'",
            reverse_sql="DROP INDEX objections_one_open_per_record",
        ),
        ops.RunSQL(
            "CREATE UNIQUE INDEX repairs_one_under_review_per_record ON repairs (record_id) "
            "WHERE status = 'under_review'",
            reverse_sql="DROP INDEX repairs_one_under_review_per_record",
        ),
    ]
