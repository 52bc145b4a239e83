"""What authentication needs to know per request, read through SECURITY DEFINER functions.

The application role cannot list accounts, sessions or keys of other tenants;
these functions each return the one row asked for by an exact value.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.database import raw_connection
from application.authentication import ApiKeyState, SessionState, TenantState
from domain.identity import Permission, Role
from domain.tenancy import TenantStatus

#: Seconds between two writes of one key's last use: a key used 100 times a
#: second should not cost 100 UPDATEs a second.
LAST_USED_RESOLUTION = 60.0


def _tenant_state(status: str | None, reason: str | None, rpm: int | None) -> TenantState | None:
    if status is None:
        return None
    return TenantState(status=TenantStatus(status), reason=reason, requests_per_minute=rpm)


class PostgresAuthState:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._touched: dict[str, float] = {}

    async def session(self, session_id: str) -> SessionState | None:
        async with raw_connection(self._engine) as conn:
            row = await conn.fetchrow("SELECT * FROM auth_session_state($1)", uuid.UUID(session_id))
        if row is None:
            return None
        return SessionState(
            revoked=row["session_revoked"],
            account_status=row["account_status"],
            role=Role(row["account_role"]),
            tenant=_tenant_state(
                row["tenant_status"], row["tenant_status_reason"], row["plan_requests_per_minute"]
            ),
        )

    async def tenant(self, tenant_id: str) -> TenantState | None:
        async with raw_connection(self._engine) as conn:
            row = await conn.fetchrow("SELECT * FROM auth_tenant_state($1)", uuid.UUID(tenant_id))
        if row is None:
            return None
        return _tenant_state(
            row["tenant_status"], row["tenant_status_reason"], row["plan_requests_per_minute"]
        )

    async def api_key(self, prefix: str) -> ApiKeyState | None:
        async with raw_connection(self._engine) as conn:
            row = await conn.fetchrow(
                """
                SELECT k.id, k.tenant_id, k.name, k.key_hash, k.scopes, k.expires_at, k.revoked_at,
                       t.tenant_status, t.tenant_status_reason, t.plan_requests_per_minute
                FROM auth_api_key($1) k
                LEFT JOIN LATERAL auth_tenant_state(k.tenant_id) t ON k.tenant_id IS NOT NULL
                """,
                prefix,
            )
        if row is None:
            return None
        known = {p.value for p in Permission}
        return ApiKeyState(
            id=str(row["id"]),
            tenant_id=str(row["tenant_id"]) if row["tenant_id"] is not None else None,
            name=row["name"],
            key_hash=row["key_hash"],
            scopes=frozenset(Permission(s) for s in row["scopes"] if s in known),
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
            tenant=_tenant_state(
                row["tenant_status"], row["tenant_status_reason"], row["plan_requests_per_minute"]
            ),
        )

    async def touch_api_key(self, key: ApiKeyState) -> None:
        now = time.monotonic()
        if now - self._touched.get(key.id, -LAST_USED_RESOLUTION) < LAST_USED_RESOLUTION:
            return
        self._touched[key.id] = now

        async with raw_connection(self._engine) as conn, conn.transaction():
            if key.tenant_id is None:
                await conn.execute("SELECT set_config('garimpo.host', 'on', true)")
            else:
                await conn.execute(
                    "SELECT set_config('garimpo.tenant_id', $1, true)", key.tenant_id
                )
            await conn.execute(
                "UPDATE api_key SET last_used_at = $2 WHERE id = $1",
                uuid.UUID(key.id),
                dt.datetime.now(dt.UTC),
            )
