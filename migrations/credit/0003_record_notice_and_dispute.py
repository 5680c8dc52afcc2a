from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('credit', '0002_one_active_ruleset'), ('residents', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='CreditRecord',
            name='disputed_until',
            field=fields.DateField(null=True),
        ),
        ops.AddField(
            model_name='CreditRecord',
            name='objection_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
