"""Audit events: who did what to which record, acting as whom, when and from where.

Every host action and every authentication event becomes one event. Events
are appended and never changed; a change carries its state before and after.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs


class ActorType(enum.StrEnum):
    ACCOUNT = "account"
    API_KEY = "api_key"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


@attrs.frozen(kw_only=True)
class Actor:
    """Who caused an event, and from where."""

    type: ActorType
    id: str | None = None
    #: E-mail of the account or name of the key; the e-mail typed at a failed login.
    label: str | None = None
    #: Tenant a host admin was acting inside, when it was.
    acting_as_tenant: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


SYSTEM_ACTOR = Actor(type=ActorType.SYSTEM, label="garimpo")


@attrs.frozen(kw_only=True)
class AuditEvent:
    action: str
    actor: Actor
    #: The tenant the event concerns; None for host-level events.
    tenant_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: dict[str, Any] | None = None


def changed_fields(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keep only the keys whose values differ, so an audit line shows the change itself."""
    keys = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}
