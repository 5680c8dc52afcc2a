from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('passes', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SpentPass',
            fields=[
                ('jti', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'spent_passes', 'app': 'passes', 'pk_attr': 'jti', 'table_description': "A pass id (``jti``) that an accepted scan consumed: the database's proof that a pass is used once."},
            bases=['Model'],
        ),
    ]
