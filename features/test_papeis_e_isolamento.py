"""Steps of papeis.feature and isolamento.feature.

Users and keys are made over the owner connection (tests/support/identity.py)
so each scenario reads as the rule it shows; login itself has its own
feature. Every check goes through the real HTTP API, except the one that
reads the database as the application role, which is the point of it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
import attrs
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from adapters.postgres.database import app_database_url
from domain.identity import Role
from entrypoints.container import provide
from entrypoints.settings import Settings
from tests.support.fixtures import APP_ROLE
from tests.support.identity import (
    access_claims,
    create_api_key,
    create_tenant,
    create_user_session,
    owner_execute,
)

if TYPE_CHECKING:
    # features/ is not a package: pytest imports its conftest.py as ``conftest``.
    from conftest import ApiResponse, GarimpoApi

scenarios("papeis.feature", "isolamento.feature")

ROLES = {"administrador": Role.ADMIN, "vendas": Role.SALES, "leitura": Role.VIEWER}

#: A CNPJ the empty registry of the features does not hold: reaching the use
#: case answers 404, a refusal answers 401 or 403.
SOME_CNPJ = "11222333000181"

#: What each action of the roles table does over HTTP.
ACTIONS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "criar uma chave de API": (
        "POST",
        "/v1/api-keys",
        {"name": "integração", "scopes": ["registry:read"]},
    ),
    "buscar pré-leads": ("POST", "/v1/preleads/search", {"cnaes": ["6201501"], "uf": "SP"}),
    "consultar a auditoria": ("GET", "/v1/audit", None),
    "consultar a auditoria do host": ("GET", "/v1/host/audit", None),
    "listar as chaves de API": ("GET", "/v1/api-keys", None),
}


@attrs.define
class User:
    account_id: str
    token: str


@attrs.define
class World:
    api: GarimpoApi
    settings: Settings
    tenants: dict[str, str] = attrs.field(factory=dict)
    #: Tenant name to its administrator's access token.
    admins: dict[str, str] = attrs.field(factory=dict)
    users: dict[str, User] = attrs.field(factory=dict)
    keys: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    host_token: str | None = None
    api_key: str | None = None
    response: ApiResponse | None = None
    rows: list[str] = attrs.field(factory=list)

    @property
    def database_url(self) -> str:
        assert self.settings.database_url
        return self.settings.database_url

    def token_for(self, tenant_id: str | None, role: Role) -> User:
        async def make() -> User:
            account_id, session_id, email = await create_user_session(
                self.database_url, tenant_id, role
            )
            tokens = await provide(self.api.container.access_tokens)
            claims = access_claims(account_id, session_id, tenant_id, role, email)
            return User(account_id, tokens.issue(claims))

        return self.api.run(make())

    def call(
        self, action: str, *, token: str | None = None, headers: dict[str, str] | None = None
    ) -> ApiResponse:
        method, path, body = ACTIONS[action]
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        self.response = self.api.request(method, path, headers=all_headers, body=body)
        return self.response

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(garimpo_api: GarimpoApi, settings: Settings) -> World:
    return World(garimpo_api, settings)


def refused_by_permissions(response: ApiResponse) -> bool:
    return response.status in (401, 403)


# --- roles ------------------------------------------------------------------------


@given(parsers.parse('o tenant "{name}" com um usuário de cada papel'))
def tenant_with_every_role(world: World, name: str) -> None:
    tenant_id = world.api.run(create_tenant(world.database_url, name))
    world.tenants[name] = tenant_id
    for label, role in ROLES.items():
        world.users[label] = world.token_for(tenant_id, role)


@when(parsers.parse('o usuário com papel "{role}" tenta {action}'))
def role_tries(world: World, role: str, action: str) -> None:
    world.call(action, token=world.users[role].token)


@then("a tentativa é permitida")
def allowed(world: World) -> None:
    assert world.response is not None
    assert not refused_by_permissions(world.response), world.response.body


@then("a tentativa é negada")
def denied(world: World) -> None:
    assert world.response is not None
    assert world.response.status == 403, world.response.body
    assert world.response.content_type == "application/problem+json"
    assert world.response.body["code"] in {"forbidden", "host_only"}
    assert world.response.body["detail"]


@given(parsers.parse('uma chave de API do tenant só com o escopo "{scope}"'))
def key_with_scope(world: World, scope: str) -> None:
    tenant_id = next(iter(world.tenants.values()))
    _key_id, world.api_key = world.api.run(create_api_key(world.database_url, tenant_id, [scope]))


@when("a chave tenta buscar pré-leads")
def key_searches(world: World) -> None:
    method, path, body = ACTIONS["buscar pré-leads"]
    assert world.api_key
    world.response = world.api.request(
        method, path, headers={"X-API-Key": world.api_key}, body=body
    )


@when("a chave consulta uma empresa pelo CNPJ")
def key_reads_company(world: World) -> None:
    assert world.api_key
    world.response = world.api.request(
        "GET", f"/v1/companies/{SOME_CNPJ}", headers={"X-API-Key": world.api_key}
    )


@then(parsers.parse('a resposta é {status:d} com o código "{code}"'))
def response_with_code(world: World, status: int, code: str) -> None:
    assert world.response is not None
    assert (world.response.status, world.response.body.get("code")) == (status, code)
    assert world.response.content_type == "application/problem+json"


@then(parsers.parse('o detalhe do erro cita o escopo "{scope}"'))
def detail_names_scope(world: World, scope: str) -> None:
    assert world.response is not None
    assert scope in world.response.body["detail"]


@given("um administrador do host")
def host_admin(world: World) -> None:
    world.host_token = world.token_for(None, Role.HOST_ADMIN).token


@when("ele lista as chaves de API sem indicar o tenant")
def host_lists_keys_without_tenant(world: World) -> None:
    assert world.host_token
    world.call("listar as chaves de API", token=world.host_token)


@when("ele lista as chaves de API do tenant indicando-o no cabeçalho X-Tenant-ID")
def host_lists_keys_inside_tenant(world: World) -> None:
    assert world.host_token
    tenant_id = next(iter(world.tenants.values()))
    world.call(
        "listar as chaves de API", token=world.host_token, headers={"X-Tenant-ID": tenant_id}
    )


@then(parsers.parse('a auditoria do host registra "{action}" para o tenant "{name}"'))
def host_audit_records(world: World, action: str, name: str) -> None:
    assert world.host_token
    tenant_id = world.tenants[name]
    response = world.api.request(
        "GET",
        f"/v1/host/audit?action={action}&tenant_id={tenant_id}",
        headers=world.bearer(world.host_token),
    )
    assert response.status == 200, response.body
    events = response.body["data"]
    assert events and all(event["action"] == action for event in events)
    assert events[0]["acting_as_tenant"] == tenant_id
    assert events[0]["actor_type"] == "account"


@given(parsers.parse('que o usuário com papel "{role}" lista as chaves de API sem problema'))
def role_lists_keys(world: World, role: str) -> None:
    response = world.call("listar as chaves de API", token=world.users[role].token)
    assert response.status == 200, response.body


@when(parsers.parse('o papel desse usuário muda para "{role}"'))
def role_changes(world: World, role: str) -> None:
    user = world.users["administrador"]

    async def change() -> None:
        await owner_execute(
            world.database_url,
            "UPDATE account SET role = $2 WHERE id = $1",
            uuid.UUID(user.account_id),
            ROLES[role].value,
        )
        # What the users API does after a role change: every API process drops
        # the cached state of sessions at once.
        await (await provide(world.api.container.auth_state)).changed()

    world.api.run(change())


@then(
    parsers.parse(
        'a próxima vez que ele lista as chaves de API a resposta é {status:d} com o código "{code}"'
    )
)
def next_listing_refused(world: World, status: int, code: str) -> None:
    response = world.call("listar as chaves de API", token=world.users["administrador"].token)
    assert (response.status, response.body["code"]) == (status, code)


# --- isolation --------------------------------------------------------------------


@given(parsers.parse('os tenants "{first}" e "{second}", cada um com o seu administrador'))
def two_tenants(world: World, first: str, second: str) -> None:
    for name in (first, second):
        tenant_id = world.api.run(create_tenant(world.database_url, name))
        world.tenants[name] = tenant_id
        world.admins[name] = world.token_for(tenant_id, Role.ADMIN).token


@given(parsers.parse('que "{tenant}" criou a chave de API "{key_name}"'))
def tenant_created_key(world: World, tenant: str, key_name: str) -> None:
    response = world.api.request(
        "POST",
        "/v1/api-keys",
        headers=world.bearer(world.admins[tenant]),
        body={"name": key_name, "scopes": ["registry:read"]},
    )
    assert response.status == 201, response.body
    world.keys[key_name] = response.body["data"]


def listed_names(world: World, tenant: str) -> set[str]:
    response = world.api.request(
        "GET", "/v1/api-keys?include_inactive=true", headers=world.bearer(world.admins[tenant])
    )
    assert response.status == 200, response.body
    world.response = response
    return {item["name"] for item in response.body["data"]}


@when(parsers.parse('"{tenant}" lista as suas chaves de API'))
def tenant_lists_keys(world: World, tenant: str) -> None:
    listed_names(world, tenant)


@then(parsers.parse('a lista não contém a chave "{key_name}"'))
def list_lacks_key(world: World, key_name: str) -> None:
    assert world.response is not None
    ids = {item["id"] for item in world.response.body["data"]}
    assert world.keys[key_name]["id"] not in ids


@then(parsers.parse('"{tenant}" vê a chave "{key_name}" na sua lista'))
def owner_sees_key(world: World, tenant: str, key_name: str) -> None:
    assert key_name in listed_names(world, tenant)


@when(parsers.parse('"{tenant}" consulta a chave "{key_name}" pelo identificador'))
def tenant_reads_other_key(world: World, tenant: str, key_name: str) -> None:
    key_id = world.keys[key_name]["id"]
    world.response = world.api.request(
        "GET", f"/v1/api-keys/{key_id}", headers=world.bearer(world.admins[tenant])
    )


@when(parsers.parse('"{tenant}" tenta revogar a chave "{key_name}"'))
def tenant_revokes_other_key(world: World, tenant: str, key_name: str) -> None:
    key_id = world.keys[key_name]["id"]
    world.response = world.api.request(
        "DELETE", f"/v1/api-keys/{key_id}", headers=world.bearer(world.admins[tenant])
    )


@then(parsers.parse('a chave "{key_name}" continua funcionando'))
def key_still_works(world: World, key_name: str) -> None:
    response = world.api.request(
        "GET", f"/v1/companies/{SOME_CNPJ}", headers={"X-API-Key": world.keys[key_name]["key"]}
    )
    assert not refused_by_permissions(response), response.body


async def _app_rows(database_url: str, tenant_id: str | None) -> list[str]:
    conn = await asyncpg.connect(app_database_url(database_url, APP_ROLE))
    try:
        async with conn.transaction():
            if tenant_id is not None:
                await conn.execute("SELECT set_config('garimpo.tenant_id', $1, true)", tenant_id)
            rows = await conn.fetch("SELECT tenant_id FROM api_key")
    finally:
        await conn.close()
    return [str(row["tenant_id"]) for row in rows]


@when("alguém lê a tabela de chaves de API como a aplicação, sem definir o tenant")
def read_without_tenant(world: World) -> None:
    world.rows = world.api.run(_app_rows(world.database_url, None))


@then("nenhuma linha volta")
def no_rows(world: World) -> None:
    assert world.rows == []


@when(parsers.parse('a aplicação define o tenant "{tenant}" na transação'))
def read_with_tenant(world: World, tenant: str) -> None:
    world.rows = world.api.run(_app_rows(world.database_url, world.tenants[tenant]))


@then(parsers.parse('só voltam chaves de "{tenant}"'))
def only_that_tenant(world: World, tenant: str) -> None:
    assert world.rows
    assert set(world.rows) == {world.tenants[tenant]}
