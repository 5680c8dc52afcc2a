"""One typed settings object, read once from the environment (and an optional ``.env``)."""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from limits import RateLimitItem, parse_many


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


class SettingsError(RuntimeError):
    """The environment does not describe a server that may start; the message names what is missing."""


_DEV_WECHAT_APPID = "wxd0000000000000dev"
_DEV_WECHAT_SECRET = "sandbox-secret"


@dataclass(frozen=True)
class Settings:
    env: Environment = Environment.DEV
    database_url: str | None = None
    redis_url: str | None = None
    # DATABASE_REPLICA_URL: a streaming replica for reads that may lag (server.database.reading);
    # REPLICA_STICKY_S: after a subject's write, its reads stay on the primary that long.
    # REDIS_CLUSTER=1: REDIS_URL is a Redis Cluster's startup node (as the redis+cluster:// scheme says).
    database_replica_url: str | None = None
    replica_sticky_s: float = 5.0
    redis_cluster: bool = False
    wechat_appid: str = _DEV_WECHAT_APPID
    wechat_secret: str = _DEV_WECHAT_SECRET
    wechat_api_base: str | None = None  # None in dev/test: start the in-process sandbox
    jwt_secret: str = ""
    data_encryption_key: bytes = b""  # 32 bytes, AES-256-GCM for personal data at rest
    data_hash_key: bytes = b""  # keyed hash (HMAC-SHA256) for matching ID numbers and phones
    pass_signing_keys_required: bool = False
    var_dir: Path = Path("var")
    # ATTACHMENTS_DIR: residents' evidence files (server.storage.LocalBlobStore); default <XINYI_VAR_DIR>/attachments
    attachments_dir: Path = Path("var") / "attachments"
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    # Throttling ladders in the `limits` notation (server.throttle): failed password logins per account
    # and address, per address, per account from unknown addresses; failed resident logins and refreshes
    # per address; public pages per address. PROXIES_COUNT: trusted X-Forwarded-For hops (0: the peer).
    login_failures_per_account_and_address: str = "5/minute;10/15 minutes;20/day"
    login_failures_per_address: str = "10/minute;50/hour;200/day"
    login_failures_per_account: str = "10/15 minutes;50/day"
    token_failures_per_address: str = "20/minute;200/hour"
    public_requests_per_address: str = "120/minute;2000/hour"
    proxies_count: int = 0
    cors_origins: tuple[
        str, ...
    ] = ()  # CORS_ORIGINS: none by default (the mini-program and partners are not browsers)
    request_max_size: int = 1_000_000
    request_timeout_s: int = 30
    response_timeout_s: int = 30
    webhook_backoff_base_s: float = 30.0
    webhook_backoff_max_s: float = 3600.0
    webhook_retry_for_s: float = 86400.0
    # The webhook delivery worker inside `serve` (WEBHOOK_WORKER, default on, off under XINYI_ENV=test),
    # its HTTP timeout per attempt, and how often it looks at the outbox when nothing woke it up.
    webhook_worker: bool = True
    webhook_timeout_s: float = 10.0
    webhook_poll_s: float = 1.0
    docs: bool = True  # DOCS: serve /docs and the spec (a deployment may turn them off)
    # WeChat subscribe messages: the template id of each notice kind (WECHAT_SUBSCRIBE_TEMPLATES,
    # "list_notice=<id>,case_decision=<id>,…"; the sandbox's own ids in dev/test), and the sender
    # inside `serve` (NOTICE_WORKER, default on, off under XINYI_ENV=test) with its pace.
    wechat_subscribe_templates: dict[str, str] = field(default_factory=dict)
    notice_worker: bool = True
    notice_poll_s: float = 2.0
    # ACCESS_LOG: one JSON line per request on the logger xinyi.access (default on, off under XINYI_ENV=test);
    # METRICS_TOKEN: when set, GET /metrics needs Authorization: Bearer <token> (server.metrics).
    access_log: bool = True
    metrics_token: str | None = None
    # Statistics (stats): a cell counting fewer distinct residents than STATS_MIN_CELL is suppressed;
    # STATS_ROLLUP_EVERY_S: the daily rollup's pace inside `serve` (0: off; default off under XINYI_ENV=test).
    stats_min_cell: int = 10
    stats_rollup_every_s: int = 60
    # The breach ladder of deposit-free orders (deposits.service.advance): charges unpaid
    # DEPOSIT_FREE_SETTLE_DAYS after completion make the order overdue (the resident is told);
    # DEPOSIT_FREE_SUSPEND_AFTER_DAYS later the resident's deposit-free benefits are suspended.
    deposit_free_settle_days: int = 30
    deposit_free_suspend_after_days: int = 7
    # OFFLINE_BUNDLE_TTL_S: how long a store's offline bundle lets a device verify passes with no
    # network, and so the offline life of every pass (its claim ``o``); default 12 h.
    offline_bundle_ttl_s: int = 43200
    # Fraud signals (signals.detect): the detection job inside `serve` (SIGNALS_WORKER, default on, off
    # under XINYI_ENV=test) every SIGNALS_INTERVAL_S, looking back at most SIGNALS_LOOKBACK_S. scan_burst: a
    # store's scans in one minute ≥ SIGNAL_BURST_MIN and > SIGNAL_BURST_FACTOR × its baseline per minute
    # (the same hour ±30 min of the SIGNAL_BASELINE_DAYS days before). refusal_spike: in a window of
    # SIGNAL_REFUSAL_WINDOW_S, ≥ SIGNAL_REFUSAL_MIN_SCANS scans of which a share ≥ SIGNAL_REFUSAL_SHARE refused.
    # impossible_travel: two scans of one resident whose regions lie further apart (≥ SIGNAL_TRAVEL_MIN_KM)
    # than SIGNAL_TRAVEL_KMH allows. redemption_pattern: one cashier redeeming for one resident more than
    # SIGNAL_REPEAT_REDEMPTIONS times in SIGNAL_REPEAT_WINDOW_S.
    signals_worker: bool = True
    signals_interval_s: float = 60.0
    signals_lookback_s: int = 86400
    signal_burst_factor: float = 5.0
    signal_burst_min: int = 30
    signal_baseline_days: int = 7
    signal_refusal_share: float = 0.5
    signal_refusal_min_scans: int = 20
    signal_refusal_window_s: int = 900
    signal_travel_kmh: float = 300.0
    signal_travel_min_km: float = 50.0
    signal_repeat_redemptions: int = 5
    signal_repeat_window_s: int = 3600
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_prod(self) -> bool:
        return self.env is Environment.PROD

    @property
    def effective_database_url(self) -> str:
        """``DATABASE_URL`` in Tortoise's spelling, or the embedded SQLite file under ``var_dir``."""
        if not self.database_url:
            return f"sqlite://{(self.var_dir / 'xinyi.sqlite3').as_posix()}"
        url = self.database_url
        for prefix in ("postgresql://", "postgresql+asyncpg://", "postgres+asyncpg://"):
            if url.startswith(prefix):
                return "postgres://" + url[len(prefix) :]
        return url

    @property
    def effective_replica_url(self) -> str | None:
        """``DATABASE_REPLICA_URL`` in Tortoise's spelling (PostgreSQL only), or None: reads use the primary."""
        url = self.database_replica_url
        if not url or self.uses_sqlite:
            return None
        for prefix in ("postgresql://", "postgresql+asyncpg://", "postgres+asyncpg://"):
            if url.startswith(prefix):
                return "postgres://" + url[len(prefix) :]
        return url

    @property
    def uses_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite://")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _env(environ: dict[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value not in (None, "") else None


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _decode_key(name: str, value: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError as exc:
        raise SettingsError(f"{name} must be 32 bytes in base64") from exc
    if len(raw) != 32:
        raise SettingsError(f"{name} must decode to exactly 32 bytes (got {len(raw)})")
    return raw


def _dev_secrets(var_dir: Path) -> dict[str, str]:
    """Secrets for dev/test, generated once and kept under ``var/`` so restarts keep sessions."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "dev-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "DATA_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DATA_HASH_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values))
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)  # atomic: two workers racing keep the first file
    except FileExistsError:
        pass
    tmp.unlink(missing_ok=True)
    return json.loads(path.read_text())


SUBSCRIBE_KINDS = ("list_notice", "case_decision", "tier_changed", "publicity_ending")


def templates(raw: str | None, env: Environment) -> dict[str, str]:
    """``WECHAT_SUBSCRIBE_TEMPLATES``: ``kind=template_id`` pairs; in dev/test the sandbox's ids by default."""
    if raw is None:
        return {} if env is Environment.PROD else {kind: f"sandbox-{kind}" for kind in SUBSCRIBE_KINDS}
    found: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        kind, _, template_id = part.partition("=")
        if kind.strip() not in SUBSCRIBE_KINDS or not template_id.strip():
            raise SettingsError(
                f"WECHAT_SUBSCRIBE_TEMPLATES must be kind=template_id pairs with kinds among "
                f"{', '.join(SUBSCRIBE_KINDS)}; got {part!r}"
            )
        found[kind.strip()] = template_id.strip()
    return found


def parse_limits(name: str, text: str) -> tuple[RateLimitItem, ...]:
    """``"5/minute;10/15 minutes"`` as ``limits`` items; a ``ValueError`` naming the setting otherwise."""
    try:
        items = tuple(parse_many(text))
    except ValueError as exc:
        raise ValueError(f"{name} must be limits like '5/minute;20/day', got {text!r}") from exc
    if not items:
        raise ValueError(f"{name} must name at least one limit")
    return items


def origins(raw: str | None) -> tuple[str, ...]:
    """``CORS_ORIGINS``: comma-separated origins (``https://host[:port]``), each exact; none by default."""
    if not raw:
        return ()
    found = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for origin in found:
        if origin == "*" or not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
            raise SettingsError(
                f"CORS_ORIGINS must list exact origins like https://example.cn, got {origin!r}"
            )
    return found


def load_settings(environ: dict[str, str] | None = None, *, dotenv: Path | None = Path(".env")) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``) over a ``.env`` file; validate for ``prod``."""
    env_values: dict[str, str] = dict(_read_dotenv(dotenv) if dotenv else {})
    env_values.update(os.environ if environ is None else environ)

    try:
        env = Environment(_env(env_values, "XINYI_ENV") or "dev")
    except ValueError as exc:
        raise SettingsError("XINYI_ENV must be one of dev, test, prod") from exc
    var_dir = Path(_env(env_values, "XINYI_VAR_DIR") or "var")

    if env is Environment.PROD:
        missing = [
            name
            for name in (
                "DATABASE_URL",
                "REDIS_URL",
                "WECHAT_APPID",
                "WECHAT_SECRET",
                "JWT_SECRET",
                "DATA_ENCRYPTION_KEY",
                "DATA_HASH_KEY",
            )
            if not _env(env_values, name)
        ]
        db = _env(env_values, "DATABASE_URL") or ""
        if db.startswith("sqlite"):
            missing.append("DATABASE_URL (a real database: PostgreSQL, not SQLite)")
        if missing:
            raise SettingsError("XINYI_ENV=prod refuses to start; missing: " + ", ".join(missing))
        generated: dict[str, str] = {}
    else:
        generated = _dev_secrets(var_dir)

    def secret(name: str) -> str:
        return _env(env_values, name) or generated[name]

    jwt_secret = secret("JWT_SECRET")
    if env is Environment.PROD and len(jwt_secret) < 32:
        raise SettingsError("JWT_SECRET must be at least 32 characters in prod")

    def number(name: str, default: float, cast: type = int) -> Any:
        raw = _env(env_values, name)
        if raw is None:
            return default
        try:
            value = cast(raw)
        except ValueError as exc:
            raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
        if value <= 0:
            raise SettingsError(f"{name} must be positive")
        return value

    def flag(name: str, default: bool) -> bool:
        raw = _env(env_values, name)
        if raw is None:
            return default
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise SettingsError(f"{name} must be 1 or 0, got {raw!r}")
        return raw.lower() in ("1", "true", "yes", "on")

    def ladder(name: str, default: str) -> str:
        text = _env(env_values, name) or default
        try:
            parse_limits(name, text)
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc
        return text

    def whole(name: str, default: int) -> int:
        raw = _env(env_values, name)
        if raw is None:
            return default
        if not raw.isdigit():
            raise SettingsError(f"{name} must be a whole number ≥ 0, got {raw!r}")
        return int(raw)

    return Settings(
        env=env,
        database_url=_env(env_values, "DATABASE_URL"),
        redis_url=_env(env_values, "REDIS_URL"),
        database_replica_url=_env(env_values, "DATABASE_REPLICA_URL"),
        replica_sticky_s=number("REPLICA_STICKY_S", 5.0, float),
        redis_cluster=flag("REDIS_CLUSTER", False),
        wechat_appid=_env(env_values, "WECHAT_APPID") or _DEV_WECHAT_APPID,
        wechat_secret=_env(env_values, "WECHAT_SECRET") or _DEV_WECHAT_SECRET,
        wechat_api_base=_env(env_values, "WECHAT_API_BASE")
        or ("https://api.weixin.qq.com/" if env is Environment.PROD else None),
        jwt_secret=jwt_secret,
        data_encryption_key=_decode_key("DATA_ENCRYPTION_KEY", secret("DATA_ENCRYPTION_KEY")),
        data_hash_key=_decode_key("DATA_HASH_KEY", secret("DATA_HASH_KEY")),
        pass_signing_keys_required=env is Environment.PROD,
        var_dir=var_dir,
        attachments_dir=Path(_env(env_values, "ATTACHMENTS_DIR") or var_dir / "attachments"),
        access_token_ttl_s=number("ACCESS_TOKEN_TTL_S", 900),
        refresh_token_ttl_s=number("REFRESH_TOKEN_TTL_S", 30 * 24 * 3600),
        login_failures_per_account_and_address=ladder(
            "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", Settings.login_failures_per_account_and_address
        ),
        login_failures_per_address=ladder("LOGIN_FAILURES_PER_ADDRESS", Settings.login_failures_per_address),
        login_failures_per_account=ladder("LOGIN_FAILURES_PER_ACCOUNT", Settings.login_failures_per_account),
        token_failures_per_address=ladder("TOKEN_FAILURES_PER_ADDRESS", Settings.token_failures_per_address),
        public_requests_per_address=ladder(
            "PUBLIC_REQUESTS_PER_ADDRESS", Settings.public_requests_per_address
        ),
        proxies_count=whole("PROXIES_COUNT", 0),
        cors_origins=origins(_env(env_values, "CORS_ORIGINS")),
        request_max_size=number("REQUEST_MAX_SIZE", 1_000_000),
        request_timeout_s=number("REQUEST_TIMEOUT_S", 30),
        response_timeout_s=number("RESPONSE_TIMEOUT_S", 30),
        webhook_backoff_base_s=number("WEBHOOK_BACKOFF_BASE_S", 30.0, float),
        webhook_backoff_max_s=number("WEBHOOK_BACKOFF_MAX_S", 3600.0, float),
        webhook_retry_for_s=number("WEBHOOK_RETRY_FOR_S", 86400.0, float),
        webhook_worker=flag("WEBHOOK_WORKER", env is not Environment.TEST),
        webhook_timeout_s=number("WEBHOOK_TIMEOUT_S", 10.0, float),
        webhook_poll_s=number("WEBHOOK_POLL_S", 1.0, float),
        docs=flag("DOCS", True),
        wechat_subscribe_templates=templates(_env(env_values, "WECHAT_SUBSCRIBE_TEMPLATES"), env),
        notice_worker=flag("NOTICE_WORKER", env is not Environment.TEST),
        notice_poll_s=number("NOTICE_POLL_S", 2.0, float),
        access_log=flag("ACCESS_LOG", env is not Environment.TEST),
        metrics_token=_env(env_values, "METRICS_TOKEN"),
        stats_min_cell=whole("STATS_MIN_CELL", 10),
        stats_rollup_every_s=whole("STATS_ROLLUP_EVERY_S", 0 if env is Environment.TEST else 60),
        deposit_free_settle_days=number("DEPOSIT_FREE_SETTLE_DAYS", 30),
        deposit_free_suspend_after_days=number("DEPOSIT_FREE_SUSPEND_AFTER_DAYS", 7),
        offline_bundle_ttl_s=number("OFFLINE_BUNDLE_TTL_S", 43200),
        signals_worker=flag("SIGNALS_WORKER", env is not Environment.TEST),
        signals_interval_s=number("SIGNALS_INTERVAL_S", 60.0, float),
        signals_lookback_s=number("SIGNALS_LOOKBACK_S", 86400),
        signal_burst_factor=number("SIGNAL_BURST_FACTOR", 5.0, float),
        signal_burst_min=number("SIGNAL_BURST_MIN", 30),
        signal_baseline_days=number("SIGNAL_BASELINE_DAYS", 7),
        signal_refusal_share=number("SIGNAL_REFUSAL_SHARE", 0.5, float),
        signal_refusal_min_scans=number("SIGNAL_REFUSAL_MIN_SCANS", 20),
        signal_refusal_window_s=number("SIGNAL_REFUSAL_WINDOW_S", 900),
        signal_travel_kmh=number("SIGNAL_TRAVEL_KMH", 300.0, float),
        signal_travel_min_km=number("SIGNAL_TRAVEL_MIN_KM", 50.0, float),
        signal_repeat_redemptions=number("SIGNAL_REPEAT_REDEMPTIONS", 5),
        signal_repeat_window_s=number("SIGNAL_REPEAT_WINDOW_S", 3600),
    )
