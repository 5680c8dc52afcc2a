from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('merchants', '0001_initial'), ('partners', '0002_grants_webhooks_access'), ('residents', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PartnerNonce',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner_id', fields.UUIDField()),
                ('nonce', fields.CharField(max_length=128)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_nonces', 'app': 'partners', 'unique_together': (('partner_id', 'nonce'),), 'pk_attr': 'id', 'table_description': "A nonce a partner signed a request with: the database's proof that it is used once within its window."},
            bases=['Model'],
        ),
    ]
