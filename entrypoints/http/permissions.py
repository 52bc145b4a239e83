"""The one table that says who may call each route.

Every route of the application has exactly one entry, keyed by method and
path template. ``create_app`` refuses to start when a route lacks one, and a
test walks the table for every route and every role.

Zones:
- public: no credentials (health, the API description, login itself);
- session: any logged-in user, host or tenant (logout, who am I);
- tenant: works on one tenant's data, which comes from the token or key, or
  from ``X-Tenant-ID`` when a host admin acts inside a tenant;
- host: the operator's routes under /v1/host.
"""

from __future__ import annotations

import enum

import attrs

from domain.identity import Permission as P
from domain.identity import Principal, PrincipalKind, Role


class Zone(enum.StrEnum):
    PUBLIC = "public"
    SESSION = "session"
    TENANT = "tenant"
    HOST = "host"


@attrs.frozen
class Access:
    zone: Zone
    permission: P | None = None


PUBLIC = Access(Zone.PUBLIC)
SESSION = Access(Zone.SESSION)


def tenant(permission: P) -> Access:
    return Access(Zone.TENANT, permission)


def host(permission: P) -> Access:
    return Access(Zone.HOST, permission)


ROUTE_ACCESS: dict[tuple[str, str], Access] = {
    # Public.
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/v1/openapi.json"): PUBLIC,
    # Login and the other steps before a session exists.
    ("POST", "/v1/auth/login"): PUBLIC,
    ("POST", "/v1/auth/refresh"): PUBLIC,
    ("POST", "/v1/auth/password-reset"): PUBLIC,
    ("POST", "/v1/auth/password-reset/confirm"): PUBLIC,
    ("POST", "/v1/auth/invitations/accept"): PUBLIC,
    # The logged-in user's own session.
    ("POST", "/v1/auth/logout"): SESSION,
    ("GET", "/v1/auth/me"): SESSION,
    # Registry and pre-leads.
    ("POST", "/v1/preleads/search"): tenant(P.PRELEADS_READ),
    # Selections of pre-leads.
    ("GET", "/v1/preleads/selections"): tenant(P.PRELEADS_READ),
    ("POST", "/v1/preleads/selections"): tenant(P.PRELEADS_WRITE),
    ("GET", "/v1/preleads/selections/{selection_id}"): tenant(P.PRELEADS_READ),
    ("PATCH", "/v1/preleads/selections/{selection_id}"): tenant(P.PRELEADS_WRITE),
    ("DELETE", "/v1/preleads/selections/{selection_id}"): tenant(P.PRELEADS_WRITE),
    ("GET", "/v1/preleads/selections/{selection_id}/items"): tenant(P.PRELEADS_READ),
    # Leads.
    ("GET", "/v1/leads"): tenant(P.LEADS_READ),
    ("POST", "/v1/leads/import"): tenant(P.LEADS_WRITE),
    ("GET", "/v1/leads/{lead_id}"): tenant(P.LEADS_READ),
    ("PATCH", "/v1/leads/{lead_id}"): tenant(P.LEADS_WRITE),
    ("POST", "/v1/leads/{lead_id}/move"): tenant(P.LEADS_WRITE),
    ("POST", "/v1/leads/{lead_id}/resolve-duplicate"): tenant(P.LEADS_WRITE),
    ("GET", "/v1/companies/{cnpj}"): tenant(P.REGISTRY_READ),
    # Tenant API keys.
    ("GET", "/v1/api-keys"): tenant(P.API_KEYS_MANAGE),
    ("POST", "/v1/api-keys"): tenant(P.API_KEYS_MANAGE),
    ("GET", "/v1/api-keys/{key_id}"): tenant(P.API_KEYS_MANAGE),
    ("DELETE", "/v1/api-keys/{key_id}"): tenant(P.API_KEYS_MANAGE),
    ("POST", "/v1/api-keys/{key_id}/rotate"): tenant(P.API_KEYS_MANAGE),
    # Host API keys (services such as n8n).
    ("GET", "/v1/host/api-keys"): host(P.HOST_API_KEYS_MANAGE),
    ("POST", "/v1/host/api-keys"): host(P.HOST_API_KEYS_MANAGE),
    ("GET", "/v1/host/api-keys/{key_id}"): host(P.HOST_API_KEYS_MANAGE),
    ("DELETE", "/v1/host/api-keys/{key_id}"): host(P.HOST_API_KEYS_MANAGE),
    ("POST", "/v1/host/api-keys/{key_id}/rotate"): host(P.HOST_API_KEYS_MANAGE),
    # Audit.
    ("GET", "/v1/audit"): tenant(P.AUDIT_READ),
    ("GET", "/v1/host/audit"): host(P.HOST_AUDIT_READ),
    # A tenant's users.
    ("GET", "/v1/users"): tenant(P.USERS_READ),
    ("POST", "/v1/users"): tenant(P.USERS_MANAGE),
    ("GET", "/v1/users/{user_id}"): tenant(P.USERS_READ),
    ("PATCH", "/v1/users/{user_id}"): tenant(P.USERS_MANAGE),
    ("DELETE", "/v1/users/{user_id}"): tenant(P.USERS_MANAGE),
    # Host admins.
    ("GET", "/v1/host/admins"): host(P.HOST_ADMINS_MANAGE),
    ("POST", "/v1/host/admins"): host(P.HOST_ADMINS_MANAGE),
    # Host: plans.
    ("GET", "/v1/host/plans"): host(P.HOST_PLANS_MANAGE),
    ("POST", "/v1/host/plans"): host(P.HOST_PLANS_MANAGE),
    ("GET", "/v1/host/plans/{plan_id}"): host(P.HOST_PLANS_MANAGE),
    ("PATCH", "/v1/host/plans/{plan_id}"): host(P.HOST_PLANS_MANAGE),
    ("DELETE", "/v1/host/plans/{plan_id}"): host(P.HOST_PLANS_MANAGE),
    # Host: tenants, their settings and usage.
    ("GET", "/v1/host/tenants"): host(P.HOST_TENANTS_READ),
    ("POST", "/v1/host/tenants"): host(P.HOST_TENANTS_MANAGE),
    ("GET", "/v1/host/tenants/{tenant_id}"): host(P.HOST_TENANTS_READ),
    ("PATCH", "/v1/host/tenants/{tenant_id}"): host(P.HOST_TENANTS_MANAGE),
    ("DELETE", "/v1/host/tenants/{tenant_id}"): host(P.HOST_TENANTS_MANAGE),
    ("POST", "/v1/host/tenants/{tenant_id}/suspend"): host(P.HOST_TENANTS_MANAGE),
    ("POST", "/v1/host/tenants/{tenant_id}/reactivate"): host(P.HOST_TENANTS_MANAGE),
    ("GET", "/v1/host/tenants/{tenant_id}/settings"): host(P.HOST_TENANTS_READ),
    ("PATCH", "/v1/host/tenants/{tenant_id}/settings"): host(P.HOST_TENANTS_MANAGE),
    ("GET", "/v1/host/tenants/{tenant_id}/usage"): host(P.HOST_TENANTS_READ),
    # The tenant's own settings.
    ("GET", "/v1/settings"): tenant(P.SETTINGS_READ),
    ("PATCH", "/v1/settings"): tenant(P.SETTINGS_MANAGE),
    # Billing: the tenant's subscription, plans on sale, and Stripe's webhook,
    # which the Stripe-Signature header authenticates instead of credentials.
    ("GET", "/v1/billing/subscription"): tenant(P.BILLING_READ),
    ("POST", "/v1/billing/checkout"): tenant(P.BILLING_MANAGE),
    ("POST", "/v1/billing/portal"): tenant(P.BILLING_MANAGE),
    ("POST", "/v1/host/plans/{plan_id}/stripe-sync"): host(P.HOST_PLANS_MANAGE),
    ("POST", "/v1/webhooks/stripe"): PUBLIC,
    # SendGrid's Event Webhook and Inbound Parse, which an ECDSA signature over
    # the raw body authenticates instead of credentials.
    ("POST", "/v1/webhooks/sendgrid"): PUBLIC,
    ("POST", "/v1/webhooks/sendgrid/inbound"): PUBLIC,
    # Twilio's and Meta's messaging webhooks, which X-Twilio-Signature and
    # X-Hub-Signature-256 authenticate instead of credentials. The GET is
    # Meta's subscription handshake, checked against META_VERIFY_TOKEN.
    ("POST", "/v1/webhooks/twilio"): PUBLIC,
    ("GET", "/v1/webhooks/whatsapp"): PUBLIC,
    ("POST", "/v1/webhooks/whatsapp"): PUBLIC,
    # Credits: the tenant's balance, statement and usage.
    ("GET", "/v1/billing/balance"): tenant(P.BILLING_READ),
    ("GET", "/v1/billing/coverage"): tenant(P.BILLING_READ),
    ("GET", "/v1/billing/ledger"): tenant(P.BILLING_READ),
    ("GET", "/v1/billing/usage"): tenant(P.BILLING_READ),
    # Host: every tenant's credits, and grants, adjustments and reversals.
    ("GET", "/v1/host/credits"): host(P.HOST_TENANTS_READ),
    ("GET", "/v1/host/tenants/{tenant_id}/credits"): host(P.HOST_TENANTS_READ),
    ("GET", "/v1/host/tenants/{tenant_id}/credits/ledger"): host(P.HOST_TENANTS_READ),
    ("POST", "/v1/host/tenants/{tenant_id}/credits/grants"): host(P.HOST_CREDITS_MANAGE),
    ("POST", "/v1/host/tenants/{tenant_id}/credits/adjustments"): host(P.HOST_CREDITS_MANAGE),
    (
        "POST",
        "/v1/host/tenants/{tenant_id}/credits/entries/{entry_id}/reversal",
    ): host(P.HOST_CREDITS_MANAGE),
    # The tenant's own webhook endpoints and their deliveries.
    # Qualification: jobs over selections, steps for n8n, replies, reviews, senders, opt-outs.
    ("POST", "/v1/preleads/selections/{selection_id}/qualify"): tenant(P.PRELEADS_WRITE),
    ("GET", "/v1/jobs"): tenant(P.PRELEADS_READ),
    ("GET", "/v1/jobs/{job_id}"): tenant(P.PRELEADS_READ),
    ("POST", "/v1/jobs/{job_id}/pause"): tenant(P.PRELEADS_WRITE),
    ("POST", "/v1/jobs/{job_id}/resume"): tenant(P.PRELEADS_WRITE),
    ("POST", "/v1/jobs/{job_id}/cancel"): tenant(P.PRELEADS_WRITE),
    ("GET", "/v1/qualification/due"): tenant(P.PRELEADS_READ),
    ("GET", "/v1/qualification/flows/{flow_id}"): tenant(P.PRELEADS_READ),
    ("POST", "/v1/qualification/flows/{flow_id}/advance"): tenant(P.PRELEADS_WRITE),
    ("POST", "/v1/qualification/replies"): tenant(P.PRELEADS_WRITE),
    ("GET", "/v1/qualification/reviews"): tenant(P.LEADS_READ),
    ("POST", "/v1/qualification/reviews/{flow_id}"): tenant(P.LEADS_WRITE),
    ("GET", "/v1/qualification/unmatched"): tenant(P.LEADS_READ),
    ("GET", "/v1/qualification/senders"): tenant(P.SETTINGS_READ),
    ("POST", "/v1/qualification/senders"): tenant(P.SETTINGS_MANAGE),
    ("DELETE", "/v1/qualification/senders/{sender_id}"): tenant(P.SETTINGS_MANAGE),
    ("POST", "/v1/opt-outs"): tenant(P.LEADS_WRITE),
    ("POST", "/v1/host/opt-outs"): host(P.HOST_TENANTS_MANAGE),
    ("GET", "/v1/host/qualification/unmatched"): host(P.HOST_TENANTS_READ),
    # The link in every e-mail: the signed token is the credential.
    ("GET", "/v1/unsubscribe/{token}"): PUBLIC,
    ("POST", "/v1/unsubscribe/{token}"): PUBLIC,
    ("GET", "/v1/webhooks/endpoints"): tenant(P.WEBHOOKS_MANAGE),
    ("POST", "/v1/webhooks/endpoints"): tenant(P.WEBHOOKS_MANAGE),
    ("GET", "/v1/webhooks/endpoints/{endpoint_id}"): tenant(P.WEBHOOKS_MANAGE),
    ("DELETE", "/v1/webhooks/endpoints/{endpoint_id}"): tenant(P.WEBHOOKS_MANAGE),
    ("GET", "/v1/webhooks/endpoints/{endpoint_id}/deliveries"): tenant(P.WEBHOOKS_MANAGE),
    ("POST", "/v1/webhooks/deliveries/{delivery_id}/redeliver"): tenant(P.WEBHOOKS_MANAGE),
    # The CRM's shape: pipelines, their stages and the custom fields of leads.
    ("GET", "/v1/pipelines"): tenant(P.LEADS_READ),
    ("POST", "/v1/pipelines"): tenant(P.CRM_MANAGE),
    ("GET", "/v1/pipelines/{pipeline_id}"): tenant(P.LEADS_READ),
    ("PATCH", "/v1/pipelines/{pipeline_id}"): tenant(P.CRM_MANAGE),
    ("DELETE", "/v1/pipelines/{pipeline_id}"): tenant(P.CRM_MANAGE),
    ("POST", "/v1/pipelines/{pipeline_id}/stages"): tenant(P.CRM_MANAGE),
    ("PATCH", "/v1/pipelines/{pipeline_id}/stages/{stage_id}"): tenant(P.CRM_MANAGE),
    ("DELETE", "/v1/pipelines/{pipeline_id}/stages/{stage_id}"): tenant(P.CRM_MANAGE),
    ("GET", "/v1/leads/fields"): tenant(P.LEADS_READ),
    ("POST", "/v1/leads/fields"): tenant(P.CRM_MANAGE),
    ("PATCH", "/v1/leads/fields/{key}"): tenant(P.CRM_MANAGE),
    ("DELETE", "/v1/leads/fields/{key}"): tenant(P.CRM_MANAGE),
    # A lead's timeline and the work logged on it. Deleting a note also
    # needs its authorship or crm:manage, which the use case checks.
    ("GET", "/v1/leads/{lead_id}/timeline"): tenant(P.LEADS_READ),
    ("POST", "/v1/leads/{lead_id}/notes"): tenant(P.LEADS_WRITE),
    ("DELETE", "/v1/leads/{lead_id}/notes/{note_id}"): tenant(P.LEADS_WRITE),
    ("POST", "/v1/leads/{lead_id}/tasks"): tenant(P.LEADS_WRITE),
    ("PATCH", "/v1/leads/{lead_id}/tasks/{task_id}"): tenant(P.LEADS_WRITE),
    ("POST", "/v1/leads/{lead_id}/interactions"): tenant(P.LEADS_WRITE),
    ("GET", "/v1/tasks"): tenant(P.LEADS_READ),
}


def route_access(method: str, template: str) -> Access | None:
    return ROUTE_ACCESS.get((method.upper(), template))


def allowed(access: Access, principal: Principal) -> bool:
    """Tell whether ``principal`` may call a route with ``access`` (zone and permission)."""
    if access.zone is Zone.PUBLIC:
        return True
    if access.zone is Zone.SESSION:
        return principal.session_id is not None
    if access.zone is Zone.HOST and (not principal.is_host or principal.acting_as is not None):
        return False
    if access.zone is Zone.TENANT and principal.effective_tenant is None:
        return False
    return access.permission is not None and principal.can(access.permission)


def roles_allowed(access: Access) -> frozenset[Role]:
    """Return the roles whose users may call a route with ``access`` (host admins outside any tenant)."""
    allowed_roles: set[Role] = set()
    for role in Role:
        principal = Principal(
            kind=PrincipalKind.ACCOUNT,
            id="00000000-0000-0000-0000-000000000000",
            tenant_id=None if role is Role.HOST_ADMIN else "00000000-0000-0000-0000-000000000001",
            role=role,
            session_id="00000000-0000-0000-0000-000000000002",
        )
        if allowed(access, principal):
            allowed_roles.add(role)
    return frozenset(allowed_roles)
