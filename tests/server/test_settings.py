"""Settings: prod refuses to start without real services and secrets, and says what is missing."""

from __future__ import annotations

import base64

import pytest

from server.settings import Environment, SettingsError, load_settings

KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
PROD = {
    "XINYI_ENV": "prod",
    "DATABASE_URL": "postgres://xinyi@db.internal/xinyi",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "WECHAT_APPID": "wx1234567890",
    "WECHAT_SECRET": "s" * 32,
    "JWT_SECRET": "j" * 48,
    "DATA_ENCRYPTION_KEY": KEY,
    "DATA_HASH_KEY": KEY,
}


def test_complete_prod_settings_load():
    s = load_settings(PROD, dotenv=None)
    assert s.env is Environment.PROD and s.wechat_api_base == "https://api.weixin.qq.com/"


@pytest.mark.parametrize("missing", sorted(PROD.keys() - {"XINYI_ENV"}))
def test_prod_names_each_missing_setting(missing):
    env = {k: v for k, v in PROD.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        load_settings(env, dotenv=None)


def test_prod_refuses_sqlite():
    with pytest.raises(SettingsError, match="PostgreSQL"):
        load_settings({**PROD, "DATABASE_URL": "sqlite://var/x.sqlite3"}, dotenv=None)


def test_prod_refuses_a_short_jwt_secret():
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings({**PROD, "JWT_SECRET": "short"}, dotenv=None)


def test_keys_must_be_32_bytes():
    with pytest.raises(SettingsError, match="DATA_ENCRYPTION_KEY"):
        load_settings({**PROD, "DATA_ENCRYPTION_KEY": "c2hvcnQ"}, dotenv=None)


def test_unknown_environment_is_refused():
    with pytest.raises(SettingsError, match="XINYI_ENV"):
        load_settings({"XINYI_ENV": "staging"}, dotenv=None)


def test_dev_generates_secrets_once_and_keeps_them(tmp_path):
    a = load_settings({"XINYI_VAR_DIR": str(tmp_path)}, dotenv=None)
    b = load_settings({"XINYI_VAR_DIR": str(tmp_path)}, dotenv=None)
    assert (
        a.env is Environment.DEV
        and a.jwt_secret == b.jwt_secret
        and a.data_encryption_key == b.data_encryption_key
    )
    assert a.effective_database_url == f"sqlite://{tmp_path}/xinyi.sqlite3" and a.redis_url is None


def test_dotenv_supplies_values_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("REDIS_URL=redis://from-dotenv:6379/0\nWECHAT_APPID=wxfromdotenv\n")
    s = load_settings({"XINYI_VAR_DIR": str(tmp_path), "WECHAT_APPID": "wxfromenv"}, dotenv=tmp_path / ".env")
    assert s.redis_url == "redis://from-dotenv:6379/0" and s.wechat_appid == "wxfromenv"


def test_postgresql_scheme_is_accepted():
    s = load_settings({**PROD, "DATABASE_URL": "postgresql://u@h/db"}, dotenv=None)
    assert s.effective_database_url == "postgres://u@h/db"
