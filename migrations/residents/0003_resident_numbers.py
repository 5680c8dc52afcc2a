from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('residents', '0002_erasure')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ResidentNumber',
            fields=[
                ('number', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('resident', fields.OneToOneField('residents.Resident', source_field='resident_id', db_constraint=True, to_field='id', related_name='number_row', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'resident_numbers', 'app': 'residents', 'pk_attr': 'number', 'table_description': 'A small, dense, stable integer per resident, given on first need.'},
            bases=['Model'],
        ),
    ]
