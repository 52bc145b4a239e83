"""Accounts, login sessions and single-use account tokens in PostgreSQL.

Rows are filtered by row-level security: a tenant scope reads its tenant's
accounts, sessions and tokens, and a host scope reads the host admins' own. The
``find_*`` lookups go through the SECURITY DEFINER functions of migration
0004, which return the one row matching an exact value in any tenant, because
login, refresh and e-mailed tokens arrive before the tenant is known.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from adapters.postgres.ids import optional_text, optional_uuid, parse_uuid
from application.accounts import (
    AccountTokenRecord,
    LoginSession,
    RefreshTokenRecord,
    TenantProfile,
)
from domain.accounts import Account, AccountStatus, AccountTokenPurpose
from domain.errors import Conflict
from domain.identity import Role
from domain.tenancy import TenantStatus

_ACCOUNT_COLUMNS = (
    "id, tenant_id, email, name, role, status, password_hash, failed_logins, locked_until, "
    "last_login_at, created_at, updated_at"
)

#: Key space of the advisory lock that serialises changes to one tenant's
#: accounts (seat count, last admin); the tenant's UUID gives the other half.
_ROSTER_LOCK_SPACE = 0x6761_7231  # "gar1"


def _account(row: asyncpg.Record) -> Account:
    return Account(
        id=str(row["id"]),
        tenant_id=optional_text(row["tenant_id"]),
        email=row["email"],
        name=row["name"],
        role=Role(row["role"]),
        status=AccountStatus(row["status"]),
        password_hash=row["password_hash"],
        failed_logins=row["failed_logins"],
        locked_until=row["locked_until"],
        last_login_at=row["last_login_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def email_taken(email: str) -> Conflict:
    return Conflict(
        f"Já existe uma conta com o e-mail {email}. Cada e-mail pode ter uma só conta no Garimpo.",
        code="email_taken",
        field="email",
    )


class PostgresAccounts:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    # --- accounts ---

    async def find_by_email(self, email: str) -> Account | None:
        row = await self._conn.fetchrow(
            f"SELECT {_ACCOUNT_COLUMNS} FROM auth_account_by_email($1)", email
        )
        return _account(row) if row is not None else None

    async def get(self, account_id: str) -> Account | None:
        account_uuid = parse_uuid(account_id)
        if account_uuid is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_ACCOUNT_COLUMNS} FROM account WHERE id = $1", account_uuid
        )
        return _account(row) if row is not None else None

    async def get_for_update(self, account_id: str) -> Account | None:
        row = await self._conn.fetchrow(
            f"SELECT {_ACCOUNT_COLUMNS} FROM account WHERE id = $1 FOR UPDATE",
            uuid.UUID(account_id),
        )
        return _account(row) if row is not None else None

    async def add(
        self,
        *,
        tenant_id: str | None,
        email: str,
        name: str,
        role: Role,
        status: AccountStatus,
        password_hash: str | None,
        now: dt.datetime,
    ) -> Account:
        try:
            row = await self._conn.fetchrow(
                f"""
                INSERT INTO account (id, tenant_id, email, name, role, status, password_hash,
                                     created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                RETURNING {_ACCOUNT_COLUMNS}
                """,
                uuid.uuid4(),
                optional_uuid(tenant_id),
                email,
                name,
                role.value,
                status.value,
                password_hash,
                now,
            )
        except asyncpg.UniqueViolationError:
            # Two invitations of one e-mail raced past the lookup; the index decided.
            raise email_taken(email) from None
        return _account(row)

    async def update(
        self, account_id: str, *, name: str, role: Role, status: AccountStatus, now: dt.datetime
    ) -> Account:
        row = await self._conn.fetchrow(
            f"""
            UPDATE account SET name = $2, role = $3, status = $4, updated_at = $5
            WHERE id = $1 RETURNING {_ACCOUNT_COLUMNS}
            """,
            uuid.UUID(account_id),
            name,
            role.value,
            status.value,
            now,
        )
        return _account(row)

    async def activate(
        self, account_id: str, *, password_hash: str, name: str, now: dt.datetime
    ) -> Account:
        row = await self._conn.fetchrow(
            f"""
            UPDATE account
            SET password_hash = $2, name = $3, status = 'active', failed_logins = 0,
                locked_until = NULL, updated_at = $4
            WHERE id = $1 RETURNING {_ACCOUNT_COLUMNS}
            """,
            uuid.UUID(account_id),
            password_hash,
            name,
            now,
        )
        return _account(row)

    async def set_password(
        self, account_id: str, password_hash: str, *, now: dt.datetime
    ) -> Account:
        row = await self._conn.fetchrow(
            f"""
            UPDATE account
            SET password_hash = $2, failed_logins = 0, locked_until = NULL, updated_at = $3
            WHERE id = $1 RETURNING {_ACCOUNT_COLUMNS}
            """,
            uuid.UUID(account_id),
            password_hash,
            now,
        )
        return _account(row)

    async def record_failed_login(
        self, account_id: str, *, failed_logins: int, locked_until: dt.datetime | None
    ) -> Account:
        row = await self._conn.fetchrow(
            f"""
            UPDATE account SET failed_logins = $2, locked_until = $3
            WHERE id = $1 RETURNING {_ACCOUNT_COLUMNS}
            """,
            uuid.UUID(account_id),
            failed_logins,
            locked_until,
        )
        return _account(row)

    async def record_login(
        self, account_id: str, *, now: dt.datetime, password_hash: str | None
    ) -> Account:
        row = await self._conn.fetchrow(
            f"""
            UPDATE account
            SET failed_logins = 0, locked_until = NULL, last_login_at = $2,
                password_hash = coalesce($3, password_hash)
            WHERE id = $1 RETURNING {_ACCOUNT_COLUMNS}
            """,
            uuid.UUID(account_id),
            now,
            password_hash,
        )
        return _account(row)

    async def list(
        self, *, role: Role | None, status: AccountStatus | None, offset: int, limit: int
    ) -> tuple[int, list[Account]]:
        where = "WHERE ($1::text IS NULL OR role = $1) AND ($2::text IS NULL OR status = $2)"
        values = [role.value if role else None, status.value if status else None]
        total = await self._conn.fetchval(f"SELECT count(*) FROM account {where}", *values)
        rows = await self._conn.fetch(
            f"SELECT {_ACCOUNT_COLUMNS} FROM account {where} ORDER BY name, email OFFSET $3 LIMIT $4",
            *values,
            offset,
            limit,
        )
        return int(total), [_account(row) for row in rows]

    async def count_seats(self) -> int:
        count = await self._conn.fetchval(
            "SELECT count(*) FROM account WHERE tenant_id = app_tenant() "
            "AND status IN ('active', 'invited')"
        )
        return int(count)

    async def count_active_admins(self) -> int:
        count = await self._conn.fetchval(
            "SELECT count(*) FROM account WHERE role = 'admin' AND status = 'active'"
        )
        return int(count)

    async def lock_roster(self) -> None:
        # A tenant scope cannot lock its tenant row because the tenant table's
        # policies give it SELECT only, so an advisory lock keyed on the tenant
        # is used instead. A host scope locks under the fixed key 'host'.
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(app_tenant()::text, 'host')))",
            _ROSTER_LOCK_SPACE,
        )

    async def tenant_profile(self) -> TenantProfile | None:
        row = await self._conn.fetchrow(
            """
            SELECT t.id, t.name, t.status, t.status_reason, p.max_users, p.requests_per_minute
            FROM tenant t LEFT JOIN plan p ON p.id = t.plan_id
            WHERE t.id = app_tenant()
            """
        )
        if row is None:
            return None
        return TenantProfile(
            id=str(row["id"]),
            name=row["name"],
            status=TenantStatus(row["status"]),
            status_reason=row["status_reason"],
            max_users=row["max_users"],
            requests_per_minute=row["requests_per_minute"],
        )

    # --- sessions and refresh tokens ---

    async def add_session(
        self,
        *,
        session_id: str,
        account_id: str,
        tenant_id: str | None,
        expires_at: dt.datetime,
        ip: str | None,
        user_agent: str | None,
        now: dt.datetime,
    ) -> None:
        await self._conn.execute(
            """
            INSERT INTO auth_session (id, account_id, tenant_id, created_at, expires_at, ip, user_agent)
            VALUES ($1, $2, $3, $4, $5, $6::inet, $7)
            """,
            uuid.UUID(session_id),
            uuid.UUID(account_id),
            optional_uuid(tenant_id),
            now,
            expires_at,
            ip,
            user_agent,
        )

    async def get_session(self, session_id: str) -> LoginSession | None:
        row = await self._conn.fetchrow(
            """
            SELECT id, account_id, tenant_id, created_at, expires_at, revoked_at, revoked_reason
            FROM auth_session WHERE id = $1
            """,
            uuid.UUID(session_id),
        )
        if row is None:
            return None
        return LoginSession(
            id=str(row["id"]),
            account_id=str(row["account_id"]),
            tenant_id=optional_text(row["tenant_id"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
            revoked_reason=row["revoked_reason"],
        )

    async def extend_session(
        self, session_id: str, *, now: dt.datetime, expires_at: dt.datetime
    ) -> None:
        await self._conn.execute(
            "UPDATE auth_session SET last_refreshed_at = $2, expires_at = $3 WHERE id = $1",
            uuid.UUID(session_id),
            now,
            expires_at,
        )

    async def revoke_sessions(
        self, account_id: str, *, reason: str, now: dt.datetime, session_id: str | None = None
    ) -> int:
        revoked = await self._conn.fetch(
            """
            UPDATE auth_session SET revoked_at = $3, revoked_reason = $4
            WHERE account_id = $1 AND ($2::uuid IS NULL OR id = $2) AND revoked_at IS NULL
            RETURNING id
            """,
            uuid.UUID(account_id),
            optional_uuid(session_id),
            now,
            reason,
        )
        # Tokens of sessions revoked earlier were retired then, so these suffice.
        await self._conn.execute(
            "UPDATE refresh_token SET used_at = $2 WHERE session_id = ANY($1::uuid[]) "
            "AND used_at IS NULL",
            [row["id"] for row in revoked],
            now,
        )
        return len(revoked)

    async def find_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        row = await self._conn.fetchrow(
            "SELECT session_id, tenant_id, issued_at, expires_at, used_at "
            "FROM auth_refresh_token($1)",
            token_hash,
        )
        if row is None:
            return None
        return RefreshTokenRecord(
            session_id=str(row["session_id"]),
            tenant_id=optional_text(row["tenant_id"]),
            issued_at=row["issued_at"],
            expires_at=row["expires_at"],
            used_at=row["used_at"],
        )

    async def add_refresh_token(
        self,
        *,
        token_hash: str,
        session_id: str,
        tenant_id: str | None,
        now: dt.datetime,
        expires_at: dt.datetime,
    ) -> None:
        await self._conn.execute(
            """
            INSERT INTO refresh_token (token_hash, session_id, tenant_id, issued_at, expires_at)
            VALUES ($1, $2, $3, $4, $5)
            """,
            token_hash,
            uuid.UUID(session_id),
            optional_uuid(tenant_id),
            now,
            expires_at,
        )

    async def use_refresh_token(self, token_hash: str, *, now: dt.datetime) -> bool:
        # Under READ COMMITTED, a second transaction updating the same row
        # waits for the first, then re-checks the WHERE clause against the
        # committed row, so only one of them finds used_at IS NULL.
        row = await self._conn.fetchrow(
            """
            UPDATE refresh_token SET used_at = $2
            WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
            RETURNING token_hash
            """,
            token_hash,
            now,
        )
        return row is not None

    # --- e-mailed tokens ---

    async def find_account_token(self, token_hash: str) -> AccountTokenRecord | None:
        row = await self._conn.fetchrow(
            "SELECT account_id, tenant_id, purpose, created_at, expires_at, used_at "
            "FROM auth_account_token($1)",
            token_hash,
        )
        if row is None:
            return None
        return AccountTokenRecord(
            account_id=str(row["account_id"]),
            tenant_id=optional_text(row["tenant_id"]),
            purpose=AccountTokenPurpose(row["purpose"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            used_at=row["used_at"],
        )

    async def add_account_token(
        self,
        *,
        token_hash: str,
        account_id: str,
        tenant_id: str | None,
        purpose: AccountTokenPurpose,
        now: dt.datetime,
        expires_at: dt.datetime,
    ) -> None:
        await self._conn.execute(
            """
            INSERT INTO account_token (token_hash, account_id, tenant_id, purpose, created_at, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            """,
            token_hash,
            uuid.UUID(account_id),
            optional_uuid(tenant_id),
            purpose.value,
            now,
            expires_at,
        )

    async def use_account_token(self, token_hash: str, *, now: dt.datetime) -> bool:
        row = await self._conn.fetchrow(
            "UPDATE account_token SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL "
            "RETURNING token_hash",
            token_hash,
            now,
        )
        return row is not None

    async def retire_account_tokens(
        self, account_id: str, purpose: AccountTokenPurpose | None, *, now: dt.datetime
    ) -> int:
        result = await self._conn.execute(
            """
            UPDATE account_token SET used_at = $3
            WHERE account_id = $1 AND ($2::text IS NULL OR purpose = $2) AND used_at IS NULL
            """,
            uuid.UUID(account_id),
            purpose.value if purpose else None,
            now,
        )
        return int(result.split()[-1])

    async def last_account_token_at(
        self, account_id: str, purpose: AccountTokenPurpose
    ) -> dt.datetime | None:
        value: dt.datetime | None = await self._conn.fetchval(
            "SELECT max(created_at) FROM account_token WHERE account_id = $1 AND purpose = $2",
            uuid.UUID(account_id),
            purpose.value,
        )
        return value
