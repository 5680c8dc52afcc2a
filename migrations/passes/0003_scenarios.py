from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('passes', '0002_spent_passes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PassKey',
            name='purpose',
            field=fields.CharField(default='pass', max_length=16),
        ),
    ]
