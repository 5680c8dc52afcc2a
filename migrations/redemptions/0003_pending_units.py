"""The units of offers without a stock limit not yet folded into ``offers.redeemed_count`` (``coupons.stock.fold_counts``)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('redemptions', '0002_one_completed_redemption_per_scan_and_offer')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PendingUnit',
            fields=[
                ('redemption_id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('offer_id', fields.UUIDField(db_index=True)),
            ],
            options={'table': 'redemption_pending_units', 'app': 'redemptions', 'pk_attr': 'redemption_id', 'table_description': "A unit of an offer without a stock limit: redeemed, not yet added to the offer's redeemed_count."},
            bases=['Model'],
        ),
    ]
