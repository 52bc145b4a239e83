"""A tenant's users and the host admins through the real HTTP API: invitations, changes, limits.

As in test_auth_api.py, every call runs the whole stack over PostgreSQL and
Redis, and every response is checked against the OpenAPI document. Each test
makes its own tenant, so the shared session database never mixes them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import pytest

from adapters.security.keys import digest
from domain.identity import Role
from entrypoints.container import Container
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.auth_api import (
    AuthApi,
    auth_container,
    code_in,
    last_email,
    outbox,
    wait_for_auth_cache,
)
from tests.support.identity import (
    create_account,
    create_api_key,
    create_tenant_with_plan,
    owner_execute,
)

PASSWORD = "correct horse battery"


@pytest.fixture
def database(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


@pytest.fixture
def app_container(settings: Settings) -> Container:
    return auth_container(settings)


@pytest.fixture
async def api(aiohttp_client: Any, app_container: Container) -> AuthApi:
    client = AuthApi(await aiohttp_client(build_app(app_container)))
    await wait_for_auth_cache(app_container)
    return client


@pytest.fixture
async def tenant_id(database: str) -> str:
    return await create_tenant_with_plan(database, f"Loja {uuid.uuid4().hex[:8]}", max_users=4)


@pytest.fixture
async def admin(api: AuthApi, database: str, tenant_id: str) -> dict[str, Any]:
    """The tenant's only admin, logged in: the login response data."""
    _admin_id, email = await create_account(database, tenant_id, Role.ADMIN, password=PASSWORD)
    return await api.login(email, PASSWORD)


def new_email(label: str = "pessoa") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@exemplo.com.br"


async def invite(
    api: AuthApi,
    token: str,
    *,
    role: str = "sales",
    email: str | None = None,
    name: str = "Bruno Lima",
) -> Any:
    return await api.call(
        "POST",
        "/v1/users",
        {"email": email or new_email(), "name": name, "role": role},
        token=token,
    )


async def accept(api: AuthApi, token: str, password: str = PASSWORD, **extra: Any) -> Any:
    return await api.call(
        "POST", "/v1/auth/invitations/accept", {"token": token, "password": password, **extra}
    )


async def audit_of(database: str, target_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database)
    try:
        return await conn.fetch(
            "SELECT action, tenant_id, actor_id, acting_as_tenant, before, after, detail "
            "FROM audit_event WHERE target_id = $1 ORDER BY id",
            target_id,
        )
    finally:
        await conn.close()


def as_json(value: str | None) -> Any:
    return json.loads(value) if value is not None else None


# --- invitations -----------------------------------------------------------------------


async def test_invitation_flow(
    api: AuthApi, app_container: Container, database: str, tenant_id: str, admin: dict[str, Any]
) -> None:
    email = new_email("bruno")

    invited = await invite(api, admin["access_token"], email=email.upper(), role="viewer")

    assert invited.status == 201, invited.body
    user = invited.data
    assert user["email"] == email
    assert user["status"] == "invited"
    assert user["role"] == "viewer"
    assert user["tenant_id"] == tenant_id
    message = await last_email(app_container, email, "invitation")
    assert "7 dias" in message.text
    assert "leitura" in message.text
    assert admin["user"]["email"] in message.text
    token = code_in(message)
    lifetime = await owner_execute(
        database,
        "SELECT expires_at - created_at FROM account_token WHERE token_hash = $1 "
        "AND purpose = 'invitation'",
        digest(token),
    )
    assert lifetime == dt.timedelta(days=7)

    accepted = await accept(api, token, name="Bruno Lima Souza")

    assert accepted.status == 200, accepted.body
    session = accepted.data
    assert session["user"]["id"] == user["id"]
    assert session["user"]["name"] == "Bruno Lima Souza"
    me = (await api.call("GET", "/v1/auth/me", token=session["access_token"])).data
    assert me["status"] == "active"
    assert me["tenant"]["id"] == tenant_id
    await api.login(email, PASSWORD)

    again = await accept(api, token)
    assert again.status == 409
    assert again.code == "invitation_used"

    actions = [event["action"] for event in await audit_of(database, user["id"])]
    assert actions[:3] == ["user.invited", "user.invitation_accepted", "auth.login_succeeded"]


async def test_expired_invitation_refused(
    api: AuthApi, app_container: Container, database: str, admin: dict[str, Any]
) -> None:
    email = new_email()
    await invite(api, admin["access_token"], email=email)
    token = code_in(await last_email(app_container, email, "invitation"))
    await owner_execute(
        database,
        "UPDATE account_token SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        digest(token),
    )

    reply = await accept(api, token)

    assert reply.status == 400
    assert reply.code == "invitation_expired"


async def test_cancelled_invitation_refused(
    api: AuthApi, app_container: Container, admin: dict[str, Any]
) -> None:
    email = new_email()
    user = (await invite(api, admin["access_token"], email=email)).data
    token = code_in(await last_email(app_container, email, "invitation"))

    await api.call("DELETE", f"/v1/users/{user['id']}", token=admin["access_token"])
    reply = await accept(api, token)

    assert reply.status == 409
    assert reply.code == "invitation_cancelled"


async def test_invitation_rejects_weak_password(
    api: AuthApi, app_container: Container, admin: dict[str, Any]
) -> None:
    email = new_email()
    await invite(api, admin["access_token"], email=email)
    token = code_in(await last_email(app_container, email, "invitation"))

    weak = await accept(api, token, password="curta")
    unknown = await accept(api, "never-issued-code")

    assert (weak.status, weak.body["field"]) == (400, "password")
    assert unknown.code == "invalid_invitation"
    assert (await accept(api, token)).status == 200


async def test_email_taken_anywhere(api: AuthApi, database: str, admin: dict[str, Any]) -> None:
    other_tenant = await create_tenant_with_plan(database, "Outra loja")
    _other_id, taken = await create_account(database, other_tenant, Role.SALES, password=PASSWORD)

    reply = await invite(api, admin["access_token"], email=taken)

    assert reply.status == 409
    assert reply.code == "email_taken"


async def test_user_limit_counts_invited_users(
    api: AuthApi, database: str, tenant_id: str, admin: dict[str, Any]
) -> None:
    # The plan allows 4: the admin and three invitations fill it.
    for _ in range(3):
        assert (await invite(api, admin["access_token"])).status == 201

    refused = await invite(api, admin["access_token"])

    assert refused.status == 409
    assert refused.code == "user_limit_reached"
    assert "4" in refused.body["detail"]


async def test_user_limit_holds_under_concurrent_invitations(
    api: AuthApi, admin: dict[str, Any]
) -> None:
    for _ in range(2):
        await invite(api, admin["access_token"])

    # One seat is left and two invitations race for it.
    replies = await asyncio.gather(
        invite(api, admin["access_token"]), invite(api, admin["access_token"])
    )

    assert sorted(reply.status for reply in replies) == [201, 409]


async def test_disabled_users_free_their_seat(api: AuthApi, admin: dict[str, Any]) -> None:
    users = [(await invite(api, admin["access_token"])).data for _ in range(3)]
    assert (await invite(api, admin["access_token"])).code == "user_limit_reached"

    await api.call("DELETE", f"/v1/users/{users[0]['id']}", token=admin["access_token"])

    assert (await invite(api, admin["access_token"])).status == 201
    reactivated = await api.call(
        "PATCH", f"/v1/users/{users[0]['id']}", {"status": "active"}, token=admin["access_token"]
    )
    assert reactivated.code == "user_limit_reached"


# --- list, get, change ----------------------------------------------------------------


async def test_list_users_with_filters_and_pages(
    api: AuthApi, database: str, tenant_id: str, admin: dict[str, Any]
) -> None:
    other_tenant = await create_tenant_with_plan(database, "Vizinha")
    await create_account(database, other_tenant, Role.SALES, password=PASSWORD)
    await invite(api, admin["access_token"], role="sales", name="Ana")
    await invite(api, admin["access_token"], role="viewer", name="Caio")
    token = admin["access_token"]

    everyone = (await api.call("GET", "/v1/users", token=token)).body
    sales = (await api.call("GET", "/v1/users?role=sales", token=token)).body
    invited = (
        await api.call("GET", "/v1/users?status=invited&per_page=1&page=2", token=token)
    ).body
    bad_role = await api.call("GET", "/v1/users?role=host_admin", token=token)

    assert everyone["meta"]["total_items"] == 3
    assert {user["tenant_id"] for user in everyone["data"]} == {tenant_id}
    assert [user["name"] for user in sales["data"]] == ["Ana"]
    assert invited["meta"] == {"page": 2, "per_page": 1, "total_items": 2, "total_pages": 2}
    assert [user["name"] for user in invited["data"]] == ["Caio"]
    assert (bad_role.status, bad_role.body["field"]) == (400, "role")


async def test_get_user_of_another_tenant_is_not_found(
    api: AuthApi, database: str, admin: dict[str, Any]
) -> None:
    other_tenant = await create_tenant_with_plan(database, "Vizinha")
    stranger_id, _email = await create_account(database, other_tenant, Role.SALES, password=None)

    stranger = await api.call("GET", f"/v1/users/{stranger_id}", token=admin["access_token"])
    not_uuid = await api.call("GET", "/v1/users/123", token=admin["access_token"])
    own = await api.call("GET", f"/v1/users/{admin['user']['id']}", token=admin["access_token"])

    assert stranger.status == 404
    assert not_uuid.status == 404
    assert own.data["role"] == "admin"


async def test_roles_decide_who_reads_and_manages(
    api: AuthApi, database: str, tenant_id: str, admin: dict[str, Any]
) -> None:
    _sales_id, sales_email = await create_account(
        database, tenant_id, Role.SALES, password=PASSWORD
    )
    _viewer_id, viewer_email = await create_account(
        database, tenant_id, Role.VIEWER, password=PASSWORD
    )
    sales = await api.login(sales_email, PASSWORD)
    viewer = await api.login(viewer_email, PASSWORD)

    assert (await api.call("GET", "/v1/users", token=sales["access_token"])).status == 200
    sales_invite = await invite(api, sales["access_token"])
    viewer_list = await api.call("GET", "/v1/users", token=viewer["access_token"])

    assert sales_invite.status == 403
    assert sales_invite.code == "forbidden"
    assert viewer_list.status == 403


async def test_update_user_name_and_role(
    api: AuthApi, database: str, tenant_id: str, admin: dict[str, Any]
) -> None:
    user_id, email = await create_account(database, tenant_id, Role.SALES, password=PASSWORD)
    session = await api.login(email, PASSWORD)
    assert (await invite(api, session["access_token"])).status == 403

    reply = await api.call(
        "PATCH",
        f"/v1/users/{user_id}",
        {"name": "  Dora   Maria ", "role": "admin"},
        token=admin["access_token"],
    )

    assert reply.data["name"] == "Dora Maria"
    assert reply.data["role"] == "admin"
    # The new role applies to the token already issued, from the next request.
    assert (await invite(api, session["access_token"])).status == 201
    events = await audit_of(database, user_id)
    assert events[-1]["action"] == "user.updated"
    assert as_json(events[-1]["before"]) == {"name": "Usuário sales", "role": "sales"}
    assert as_json(events[-1]["after"]) == {"name": "Dora Maria", "role": "admin"}
    assert str(events[-1]["actor_id"]) == admin["user"]["id"]


async def test_update_validates_fields(api: AuthApi, admin: dict[str, Any]) -> None:
    path = f"/v1/users/{admin['user']['id']}"
    token = admin["access_token"]

    empty = await api.call("PATCH", path, {}, token=token)
    bad_role = await api.call("PATCH", path, {"role": "host_admin"}, token=token)
    bad_status = await api.call("PATCH", path, {"status": "invited"}, token=token)
    unknown = await api.call("PATCH", path, {"email": "x@y.com.br"}, token=token)

    assert empty.code == "empty_update"
    assert (bad_role.status, bad_role.body["field"]) == (400, "role")
    assert (bad_status.status, bad_status.body["field"]) == (400, "status")
    assert (unknown.status, unknown.body["field"]) == (400, "email")


async def test_last_admin_is_protected(
    api: AuthApi, database: str, tenant_id: str, admin: dict[str, Any]
) -> None:
    path = f"/v1/users/{admin['user']['id']}"
    token = admin["access_token"]

    demoted = await api.call("PATCH", path, {"role": "sales"}, token=token)
    disabled = await api.call("PATCH", path, {"status": "disabled"}, token=token)
    deleted = await api.call("DELETE", path, token=token)

    for reply in (demoted, disabled, deleted):
        assert reply.status == 409
        assert reply.code == "last_admin"

    # With a second active admin, the first may step down.
    await create_account(database, tenant_id, Role.ADMIN, password=PASSWORD)
    stepped_down = await api.call("PATCH", path, {"role": "viewer"}, token=token)
    assert stepped_down.data["role"] == "viewer"


async def test_invited_admin_does_not_count_as_active(api: AuthApi, admin: dict[str, Any]) -> None:
    await invite(api, admin["access_token"], role="admin")

    reply = await api.call(
        "PATCH", f"/v1/users/{admin['user']['id']}", {"role": "sales"}, token=admin["access_token"]
    )

    assert reply.code == "last_admin"


async def test_disabled_user_token_refused_at_once(
    api: AuthApi, database: str, tenant_id: str, admin: dict[str, Any]
) -> None:
    user_id, email = await create_account(database, tenant_id, Role.SALES, password=PASSWORD)
    session = await api.login(email, PASSWORD)
    assert (await api.call("GET", "/v1/auth/me", token=session["access_token"])).status == 200

    disabled = await api.call("DELETE", f"/v1/users/{user_id}", token=admin["access_token"])
    again = await api.call("DELETE", f"/v1/users/{user_id}", token=admin["access_token"])

    assert disabled.data["status"] == "disabled"
    assert again.data["status"] == "disabled"
    access = await api.call("GET", "/v1/auth/me", token=session["access_token"])
    assert access.status == 401
    assert access.code in {"session_revoked", "account_disabled"}
    renewed = await api.call(
        "POST", "/v1/auth/refresh", {"refresh_token": session["refresh_token"]}
    )
    assert renewed.status == 401
    login = await api.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    assert login.code == "invalid_credentials"

    events = await audit_of(database, user_id)
    disabled_events = [event for event in events if event["action"] == "user.disabled"]
    assert len(disabled_events) == 1
    assert as_json(disabled_events[0]["detail"]) == {"sessions_revoked": 1}


async def test_reactivated_user_logs_in_again(
    api: AuthApi, database: str, tenant_id: str, admin: dict[str, Any]
) -> None:
    user_id, email = await create_account(database, tenant_id, Role.SALES, password=PASSWORD)
    path = f"/v1/users/{user_id}"
    await api.call("PATCH", path, {"status": "disabled"}, token=admin["access_token"])

    reply = await api.call("PATCH", path, {"status": "active"}, token=admin["access_token"])

    assert reply.data["status"] == "active"
    await api.login(email, PASSWORD)


async def test_reactivating_never_accepted_invitation_invites_again(
    api: AuthApi, app_container: Container, admin: dict[str, Any]
) -> None:
    email = new_email()
    user = (await invite(api, admin["access_token"], email=email)).data
    path = f"/v1/users/{user['id']}"
    pending = await api.call("PATCH", path, {"status": "active"}, token=admin["access_token"])
    await api.call("DELETE", path, token=admin["access_token"])

    reply = await api.call("PATCH", path, {"status": "active"}, token=admin["access_token"])

    assert pending.code == "invitation_pending"
    assert reply.data["status"] == "invited"
    invitations = (await outbox(app_container)).sent_to(email, purpose="invitation")
    assert len(invitations) == 2
    accepted = await accept(api, code_in(invitations[-1]))
    assert accepted.status == 200


async def test_host_admin_manages_users_inside_a_tenant(
    api: AuthApi, database: str, tenant_id: str, admin: dict[str, Any]
) -> None:
    _host_id, host_email = await create_account(database, None, Role.HOST_ADMIN, password=PASSWORD)
    host = await api.login(host_email, PASSWORD)

    without_header = await api.call("GET", "/v1/users", token=host["access_token"])
    listed = await api.call("GET", "/v1/users", token=host["access_token"], tenant=tenant_id)
    invited = await api.call(
        "POST",
        "/v1/users",
        {"email": new_email(), "name": "Eva", "role": "sales"},
        token=host["access_token"],
        tenant=tenant_id,
    )

    assert without_header.code == "tenant_required"
    assert [user["id"] for user in listed.data] == [admin["user"]["id"]]
    assert invited.status == 201
    event = (await audit_of(database, invited.data["id"]))[0]
    assert event["action"] == "user.invited"
    assert str(event["acting_as_tenant"]) == tenant_id


async def test_api_key_with_users_scope(api: AuthApi, database: str, tenant_id: str) -> None:
    _key_id, reader = await create_api_key(database, tenant_id, ["users:read"])

    listed = await api.call("GET", "/v1/users", key=reader)
    refused = await api.call(
        "POST", "/v1/users", {"email": new_email(), "name": "Eva", "role": "sales"}, key=reader
    )

    assert listed.status == 200
    assert refused.code == "insufficient_scope"


# --- host admins ----------------------------------------------------------------------


async def test_host_admin_invites_another(
    api: AuthApi, app_container: Container, database: str
) -> None:
    _host_id, host_email = await create_account(database, None, Role.HOST_ADMIN, password=PASSWORD)
    host = await api.login(host_email, PASSWORD)
    email = new_email("operacao")

    invited = await api.call(
        "POST",
        "/v1/host/admins",
        {"email": email, "name": "Carla Dias"},
        token=host["access_token"],
    )
    listed = await api.call("GET", "/v1/host/admins?status=invited", token=host["access_token"])
    accepted = await accept(api, code_in(await last_email(app_container, email, "invitation")))

    assert invited.status == 201
    assert invited.data["role"] == "host_admin"
    assert invited.data["tenant_id"] is None
    assert email in [admin["email"] for admin in listed.body["data"]]
    assert {admin["tenant_id"] for admin in listed.body["data"]} == {None}
    me = (await api.call("GET", "/v1/auth/me", token=accepted.data["access_token"])).data
    assert me["role"] == "host_admin"
    assert "host:admins:manage" in me["permissions"]
    events = await audit_of(database, invited.data["id"])
    assert events[0]["action"] == "host_admin.invited"


async def test_tenant_admin_cannot_manage_host_admins(api: AuthApi, admin: dict[str, Any]) -> None:
    listed = await api.call("GET", "/v1/host/admins", token=admin["access_token"])
    invited = await api.call(
        "POST",
        "/v1/host/admins",
        {"email": new_email(), "name": "Intrusa"},
        token=admin["access_token"],
    )

    assert listed.code == "host_only"
    assert invited.code == "host_only"
