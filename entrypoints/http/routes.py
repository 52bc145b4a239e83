"""Every route module registers its routes here, in one place."""

from __future__ import annotations

from aiohttp import web

from entrypoints.http import (
    routes_api_keys,
    routes_audit,
    routes_auth,
    routes_billing,
    routes_credits,
    routes_crm,
    routes_email_webhooks,
    routes_host,
    routes_leads,
    routes_provider_webhooks,
    routes_qualification,
    routes_registry,
    routes_selections,
    routes_settings,
    routes_users,
    routes_webhooks,
)


def register_all_routes(app: web.Application) -> None:
    routes_registry.register_routes(app)
    routes_api_keys.register_routes(app)
    routes_audit.register_routes(app)
    routes_host.register_routes(app)
    routes_settings.register_routes(app)
    routes_auth.register_routes(app)
    routes_users.register_routes(app)
    routes_billing.register_routes(app)
    routes_credits.register_routes(app)
    routes_webhooks.register_routes(app)
    routes_email_webhooks.register_routes(app)
    routes_provider_webhooks.register_routes(app)
    routes_crm.register_routes(app)
    routes_selections.register_routes(app)
    routes_qualification.register_routes(app)
    # After the CRM routes: /v1/leads/{lead_id} would otherwise take /v1/leads/fields.
    routes_leads.register_routes(app)
