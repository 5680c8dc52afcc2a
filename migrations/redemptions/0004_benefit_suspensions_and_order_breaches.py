"""Benefit suspensions (``coupons.suspensions``: a resident's deposit-free benefits withheld while an order
is unpaid), and breach reports of deposit-free orders (``order_id``; ``redemption_id`` becomes optional)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('redemptions', '0003_pending_units')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BenefitSuspension',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('resident_id', fields.UUIDField()),
                ('offer_type', fields.CharField(max_length=20)),
                ('source', fields.CharField(max_length=64)),
                ('reason', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'benefit_suspensions', 'app': 'redemptions', 'unique_together': (('resident_id', 'offer_type', 'source'),), 'pk_attr': 'id', 'table_description': 'Offers of ``offer_type`` are withheld from the resident (scan lists them not, redemptions refuse them).'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Breach',
            name='redemption_id',
            field=fields.UUIDField(null=True, unique=True),
        ),
        ops.AddField(
            model_name='Breach',
            name='order_id',
            field=fields.UUIDField(null=True, unique=True),
        ),
    ]
