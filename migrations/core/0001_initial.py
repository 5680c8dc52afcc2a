from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('family_id', fields.UUIDField(db_index=True)),
                ('audience', fields.CharField(max_length=16)),
                ('subject_id', fields.CharField(db_index=True, max_length=64)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refresh_tokens', 'app': 'core', 'pk_attr': 'id', 'table_description': 'One refresh token of a login session (a *family*), stored as its SHA-256 only.'},
            bases=['Model'],
        ),
    ]
