"""At most one completed redemption per scan and offer: a partial unique index (PostgreSQL and SQLite both have them).

A double tap on the cashier's button without an Idempotency-Key must not grant an unlimited
offer twice. Reversed redemptions drop out of the index, so a mistake can be undone and redone
with the same scan. Partner redemptions have no scan (NULLs never conflict).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("redemptions", "0001_initial")]

    operations = [
        ops.RunSQL(
            "CREATE UNIQUE INDEX redemptions_one_completed_per_scan_offer ON redemptions (scan_id, offer_id) "
            "WHERE status = 'completed'",
            reverse_sql="DROP INDEX redemptions_one_completed_per_scan_offer",
        ),
    ]
