"""Redemptions of offers without a stock limit are counted into ``offers.redeemed_count`` after the fact.

``counted`` is false for such a unit until ``coupons.ledger.fold_counts`` adds it to the offer's
count (existing rows were counted when they were written: true). The partial index holds only
the few rows not folded yet, which the fold and a stock check find through it.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("redemptions", "0002_one_completed_redemption_per_scan_and_offer")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Redemption",
            name="counted",
            field=fields.BooleanField(default=True),
        ),
        ops.RunSQL(
            "CREATE INDEX redemptions_not_counted ON redemptions (offer_id) WHERE NOT counted",
            reverse_sql="DROP INDEX redemptions_not_counted",
        ),
    ]
