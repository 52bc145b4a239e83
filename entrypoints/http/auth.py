"""Authentication and authorisation of every request, driven by the permission table.

The middleware reads the credentials (``Authorization: Bearer`` with an
access JWT or an API key, or ``X-API-Key``), asks the ``Authenticate`` use
case for the principal, lets a host admin step into a tenant with
``X-Tenant-ID``, and checks the route's zone and permission. Handlers read
the principal from ``PRINCIPAL_KEY`` and the tenant from ``TENANT_ID_KEY``.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from application.authentication import CredentialKind, Credentials, TenantState
from domain.audit import Actor, ActorType
from domain.errors import AuthenticationFailed, NotFound, PermissionDenied
from domain.identity import Principal as Principal
from domain.identity import PrincipalKind
from entrypoints.http.middleware import REQUEST_ID_KEY, TENANT_ID_KEY
from entrypoints.http.permissions import Access, Zone, allowed, route_access

log = structlog.get_logger(__name__)

API_KEY_HEADER = "X-API-Key"
TENANT_HEADER = "X-Tenant-ID"
API_KEY_MARK = "gar_"

PRINCIPAL_KEY = web.RequestKey("principal", Principal)
#: State of the tenant the request works on (plan limits for the rate limiter).
TENANT_STATE_KEY = web.RequestKey("tenant_state", TenantState)
ACCESS_KEY = web.RequestKey("access", Access)

AuthenticateHandler = Callable[[Credentials], Awaitable[tuple[Principal, TenantState | None]]]
#: Lets a host principal act inside a tenant: checks the tenant, records the
#: act in the audit log, returns the tenant's state.
EnterTenantHandler = Callable[[Principal, str, Actor], Awaitable[TenantState]]


def presented_credentials(request: web.Request) -> Credentials | None:
    key = request.headers.get(API_KEY_HEADER, "").strip()
    if key:
        return Credentials(CredentialKind.API_KEY, key)

    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    if value.startswith(API_KEY_MARK):
        return Credentials(CredentialKind.API_KEY, value)
    return Credentials(CredentialKind.ACCESS_TOKEN, value)


def client_ip(request: web.Request) -> str | None:
    """The caller's address as aiohttp sees it (behind a proxy, configure its forwarded headers)."""
    remote = request.remote
    if remote is None:
        return None
    return remote if _is_ip(remote) else None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def actor_of(request: web.Request) -> Actor:
    """Who is behind the request, for audit events (anonymous before authentication)."""
    principal = request.get(PRINCIPAL_KEY)
    base = {
        "ip": client_ip(request),
        "user_agent": (request.headers.get("User-Agent") or "")[:300] or None,
        "request_id": request.get(REQUEST_ID_KEY),
    }
    if principal is None:
        return Actor(type=ActorType.ANONYMOUS, **base)
    kind = ActorType.API_KEY if principal.kind is PrincipalKind.API_KEY else ActorType.ACCOUNT
    return Actor(
        type=kind,
        id=principal.id,
        label=principal.label,
        acting_as_tenant=principal.acting_as,
        **base,
    )


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL_KEY]


def tenant_of(request: web.Request) -> str:
    """Return the tenant a tenant route works on (the middleware sets it before any handler runs)."""
    return request[TENANT_ID_KEY]


def _matched_template(request: web.Request) -> str | None:
    if request.match_info.http_exception is not None:
        return None
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def make_auth_middleware(
    authenticate: AuthenticateHandler, enter_tenant: EnterTenantHandler
) -> Middleware:
    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        template = _matched_template(request)
        if template is None:
            return await handler(request)

        access = route_access(request.method, template)
        if access is None:
            # create_app checks the table, so only a route added after startup gets here.
            log.error("route_without_access_entry", method=request.method, path=template)
            raise PermissionDenied(
                "Esta rota não tem permissão definida.", code="route_not_allowed"
            )
        request[ACCESS_KEY] = access
        if access.zone is Zone.PUBLIC:
            return await handler(request)

        credentials = presented_credentials(request)
        if credentials is None:
            raise AuthenticationFailed(
                "Esta rota exige autenticação. Envie o token de acesso em "
                "Authorization: Bearer <token> ou a chave de API no cabeçalho X-API-Key.",
                code="authentication_required",
            )
        principal, tenant_state = await authenticate(credentials)

        target = request.headers.get(TENANT_HEADER, "").strip()
        if target and access.zone is Zone.TENANT:
            principal, tenant_state = await _enter(request, principal, target, enter_tenant)

        if not allowed(access, principal):
            raise _refusal(access, principal)

        request[PRINCIPAL_KEY] = principal
        if tenant_state is not None:
            request[TENANT_STATE_KEY] = tenant_state
        tenant_id = principal.effective_tenant
        if tenant_id is not None:
            request[TENANT_ID_KEY] = tenant_id
        with structlog.contextvars.bound_contextvars(
            tenant_id=tenant_id, principal_id=principal.id
        ):
            return await handler(request)

    return auth_middleware


async def _enter(
    request: web.Request, principal: Principal, target: str, enter_tenant: EnterTenantHandler
) -> tuple[Principal, TenantState]:
    if not principal.is_host or principal.kind is not PrincipalKind.ACCOUNT:
        raise PermissionDenied(
            f"Só um administrador do host pode usar o cabeçalho {TENANT_HEADER}.",
            code="tenant_header_not_allowed",
        )
    try:
        tenant_id = str(uuid.UUID(target))
    except ValueError:
        raise NotFound(f"Tenant não encontrado: '{target}'.", field=TENANT_HEADER) from None
    acting = principal.acting_inside(tenant_id)
    request[PRINCIPAL_KEY] = acting
    state = await enter_tenant(acting, tenant_id, actor_of(request))
    return acting, state


def _refusal(access: Access, principal: Principal) -> PermissionDenied:
    if access.zone is Zone.SESSION:
        return PermissionDenied(
            "Esta rota é para usuários com sessão; chaves de API não podem usá-la.",
            code="session_required",
        )
    if access.zone is Zone.HOST and (not principal.is_host or principal.acting_as is not None):
        return PermissionDenied("Esta rota é do administrador do host.", code="host_only")
    if access.zone is Zone.TENANT and principal.effective_tenant is None:
        return PermissionDenied(
            "Esta rota trabalha sobre os dados de um tenant. Um administrador do host "
            f"precisa indicar o tenant no cabeçalho {TENANT_HEADER}.",
            code="tenant_required",
        )
    if principal.kind is PrincipalKind.API_KEY:
        return PermissionDenied(
            f"Esta chave de API não tem o escopo '{access.permission}', exigido por esta rota.",
            code="insufficient_scope",
        )
    return PermissionDenied(
        "O seu papel não permite esta ação. Peça acesso ao administrador da sua empresa.",
        code="forbidden",
    )
