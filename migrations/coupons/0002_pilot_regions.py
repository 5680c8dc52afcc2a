from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('coupons', '0001_initial'), ('merchants', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PilotRegion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scenario', fields.CharField(max_length=16)),
                ('code', fields.CharField(max_length=6)),
                ('prefix', fields.CharField(max_length=6)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('started_by_id', fields.UUIDField(null=True)),
            ],
            options={'table': 'pilot_regions', 'app': 'coupons', 'unique_together': (('scenario', 'code'),), 'pk_attr': 'id', 'table_description': "One region of a scenario's pilot (政策试点): while a scenario has any, its offers apply only at"},
            bases=['Model'],
        ),
    ]
