"""Steps of selecao_e_funil.feature: a free selection, lead dedup, and a pipeline move.

The tenant, its key and its grant are made over the owner connection and the
container; the companies are stored as an api-cnaes lookup stores them.
Selections, imports, moves, the balance and the statement go through the
real HTTP API with the tenant's key, as a sales rep's screen would.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
import attrs
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from application.credits import Credits
from domain.audit import Actor, ActorType
from entrypoints.container import provide
from tests.support.companies import store_companies, valid_cnpj
from tests.support.identity import create_api_key, create_tenant, owner_execute

if TYPE_CHECKING:
    from conftest import ApiResponse, GarimpoApi

scenarios("selecao_e_funil.feature")

HOST = Actor(type=ActorType.SYSTEM, label="host")


@attrs.define
class Crm:
    tenant_id: str = ""
    key: str = ""
    cnpjs: list[str] = attrs.field(factory=list)
    selection: dict[str, Any] = attrs.field(factory=dict)
    leads: dict[int, str] = attrs.field(factory=dict)
    last: ApiResponse | None = None


@pytest.fixture
def crm() -> Crm:
    return Crm()


def _headers(crm: Crm) -> dict[str, str]:
    return {"X-API-Key": crm.key}


def _stages(api: GarimpoApi, crm: Crm) -> dict[str, str]:
    async def read() -> dict[str, str]:
        conn = await asyncpg.connect(api.container.database_url())
        try:
            rows = await conn.fetch(
                "SELECT s.name, s.id FROM pipeline_stage s JOIN pipeline p ON p.id = s.pipeline_id "
                "WHERE p.tenant_id = $1 AND p.is_default",
                uuid.UUID(crm.tenant_id),
            )
        finally:
            await conn.close()
        return {row["name"]: str(row["id"]) for row in rows}

    return api.run(read())


@given(parsers.parse('que a empresa "{name}" tem uma chave de API e {credits:d} créditos'))
def tenant_with_credits(garimpo_api: GarimpoApi, crm: Crm, name: str, credits: int) -> None:
    database_url = garimpo_api.container.database_url()

    async def prepare() -> None:
        crm.tenant_id = await create_tenant(database_url, f"{name} {uuid.uuid4().hex[:6]}")
        _key_id, crm.key = await create_api_key(database_url, crm.tenant_id)
        granting: Credits = await provide(garimpo_api.container.credits)
        await granting.grant(HOST, crm.tenant_id, credits, reason="Pacote inicial")

    garimpo_api.run(prepare())


@given(parsers.parse("que a base conhece {count:d} padarias de Curitiba com telefone e e-mail"))
def bakeries(garimpo_api: GarimpoApi, crm: Crm, count: int) -> None:
    block = uuid.uuid4().int % 80_000_000 + 10_000_000
    crm.cnpjs = [valid_cnpj(block, order=order) for order in range(1, count + 1)]
    phones = [[f"+554199{block % 1000:03d}{order:04d}"] for order in range(1, count + 1)]
    emails = [f"compras{order}@padaria{block}.com.br" for order in range(1, count + 1)]
    garimpo_api.run(
        store_companies(
            garimpo_api.container.database_url(), crm.cnpjs, phones=phones, emails=emails
        )
    )


# --- selection -------------------------------------------------------------------------


@when(parsers.parse('seleciono as {count:d} padarias pela lista de CNPJs com o nome "{name}"'))
def select(garimpo_api: GarimpoApi, crm: Crm, count: int, name: str) -> None:
    crm.last = garimpo_api.request(
        "POST", "/v1/preleads/selections", headers=_headers(crm),
        body={"name": name, "cnpjs": crm.cnpjs[:count]},
    )  # fmt: skip


@then(parsers.parse('a seleção "{name}" é criada com {count:d} pré-leads'))
def selection_created(garimpo_api: GarimpoApi, crm: Crm, name: str, count: int) -> None:
    assert crm.last is not None and crm.last.status == 201, crm.last
    crm.selection = crm.last.body["data"]
    assert crm.selection["name"] == name
    assert crm.selection["item_count"] == count

    listed = garimpo_api.get(
        f"/v1/preleads/selections/{crm.selection['id']}/items?per_page=100", api_key=crm.key
    )
    assert [item["cnpj"] for item in listed.body["data"]] == crm.cnpjs[:count]
    assert {item["status"] for item in listed.body["data"]} == {"selected"}


@then("nenhum pré-lead da seleção está sinalizado")
def nothing_flagged(crm: Crm) -> None:
    assert crm.selection["flag_counts"] == {}


@then(parsers.parse("o saldo continua de {credits:d} créditos, sem nenhuma reserva"))
def balance_unchanged(garimpo_api: GarimpoApi, crm: Crm, credits: int) -> None:
    balance = garimpo_api.get("/v1/billing/balance", api_key=crm.key)
    assert balance.status == 200, balance.body
    assert balance.body["data"]["balance"] == credits
    assert balance.body["data"]["held"] == 0


@then("o extrato de créditos da empresa não tem lançamentos além da concessão")
def ledger_only_grant(garimpo_api: GarimpoApi, crm: Crm) -> None:
    ledger = garimpo_api.get("/v1/billing/ledger", api_key=crm.key)
    assert ledger.status == 200, ledger.body
    assert [entry["kind"] for entry in ledger.body["data"]] == ["grant"]


# --- dedup -----------------------------------------------------------------------------


def _import(api: GarimpoApi, crm: Crm, number: int, phone: str | None = None) -> ApiResponse:
    row: dict[str, Any] = {"cnpj": crm.cnpjs[number - 1]}
    if phone is not None:
        row["phones"] = [phone]
    return api.request("POST", "/v1/leads/import", headers=_headers(crm), body={"leads": [row]})


@given(parsers.parse('que importei a padaria {number:d} como lead com o telefone "{phone}"'))
def imported_with_phone(garimpo_api: GarimpoApi, crm: Crm, number: int, phone: str) -> None:
    result = _import(garimpo_api, crm, number, phone)
    assert result.body["data"]["rows"][0]["result"] == "created", result.body
    crm.leads[number] = result.body["data"]["rows"][0]["lead_id"]


@given(parsers.parse("que importei a padaria {number:d} como lead"))
def imported(garimpo_api: GarimpoApi, crm: Crm, number: int) -> None:
    result = _import(garimpo_api, crm, number)
    assert result.body["data"]["rows"][0]["result"] == "created", result.body
    crm.leads[number] = result.body["data"]["rows"][0]["lead_id"]


@when(parsers.parse("importo a padaria {number:d} de novo"))
def import_again(garimpo_api: GarimpoApi, crm: Crm, number: int) -> None:
    crm.last = _import(garimpo_api, crm, number)


@when(parsers.parse('importo a padaria {number:d} com o telefone "{phone}"'))
def import_with_phone(garimpo_api: GarimpoApi, crm: Crm, number: int, phone: str) -> None:
    crm.last = _import(garimpo_api, crm, number, phone)


@then(parsers.parse("a importação responde que a padaria {number:d} já era lead"))
def already_lead(crm: Crm, number: int) -> None:
    assert crm.last is not None
    row = crm.last.body["data"]["rows"][0]
    assert row["result"] == "already_lead"
    assert row["lead_id"] == crm.leads[number]


@then(parsers.parse("a empresa tem {count:d} lead para o CNPJ da padaria {number:d}"))
def one_lead(garimpo_api: GarimpoApi, crm: Crm, count: int, number: int) -> None:
    found = garimpo_api.run(
        owner_execute(
            garimpo_api.container.database_url(),
            "SELECT count(*) FROM lead WHERE tenant_id = $1 AND cnpj = $2",
            uuid.UUID(crm.tenant_id),
            crm.cnpjs[number - 1],
        )
    )
    assert found == count


@then(parsers.parse("a padaria {number:d} entra como possível duplicado da padaria {original:d}"))
def possible_duplicate(crm: Crm, number: int, original: int) -> None:
    assert crm.last is not None
    row = crm.last.body["data"]["rows"][0]
    assert row["result"] == "possible_duplicate"
    assert row["duplicate_of"] == crm.leads[original]
    crm.leads[number] = row["lead_id"]


@then(parsers.parse("a lista de leads não mostra a padaria {number:d}"))
def not_listed(garimpo_api: GarimpoApi, crm: Crm, number: int) -> None:
    listed = garimpo_api.get("/v1/leads", api_key=crm.key)
    assert crm.cnpjs[number - 1] not in {lead["cnpj"] for lead in listed.body["data"]}


@when(parsers.parse("resolvo a padaria {number:d} como a mesma empresa"))
def resolve_same(garimpo_api: GarimpoApi, crm: Crm, number: int) -> None:
    crm.last = garimpo_api.request(
        "POST", f"/v1/leads/{crm.leads[number]}/resolve-duplicate", headers=_headers(crm),
        body={"resolution": "duplicate"},
    )  # fmt: skip
    assert crm.last.status == 200, crm.last.body


@then(parsers.parse("a padaria {number:d} não é mais encontrada"))
def not_found(garimpo_api: GarimpoApi, crm: Crm, number: int) -> None:
    assert garimpo_api.get(f"/v1/leads/{crm.leads[number]}", api_key=crm.key).status == 404


@then(parsers.parse("a lista de leads mostra só a padaria {number:d}"))
def only_listed(garimpo_api: GarimpoApi, crm: Crm, number: int) -> None:
    listed = garimpo_api.get("/v1/leads", api_key=crm.key)
    assert [lead["cnpj"] for lead in listed.body["data"]] == [crm.cnpjs[number - 1]]


# --- pipeline --------------------------------------------------------------------------


@given(parsers.parse('que a empresa cadastrou um webhook para o evento "{event}"'))
def webhook(garimpo_api: GarimpoApi, crm: Crm, event: str) -> None:
    # Stored directly: the receiver's address is public and never called here,
    # the delivery only has to be queued.
    garimpo_api.run(
        owner_execute(
            garimpo_api.container.database_url(),
            "INSERT INTO webhook_endpoint (tenant_id, url, events, secret) "
            "VALUES ($1, 'https://crm.exemplo.com.br/ganchos', $2, 'whsec_teste')",
            uuid.UUID(crm.tenant_id),
            [event],
        )
    )


def _move(api: GarimpoApi, crm: Crm, number: int, stage: str, reason: str | None) -> None:
    body: dict[str, Any] = {"stage_id": _stages(api, crm)[stage]}
    if reason is not None:
        body["reason"] = reason
    crm.last = api.request(
        "POST", f"/v1/leads/{crm.leads[number]}/move", headers=_headers(crm), body=body
    )


@when(parsers.parse('movo a padaria {number:d} para a etapa "{stage}" sem motivo'))
def move_without_reason(garimpo_api: GarimpoApi, crm: Crm, number: int, stage: str) -> None:
    _move(garimpo_api, crm, number, stage, None)


@when(parsers.parse('movo a padaria {number:d} para a etapa "{stage}" com o motivo "{reason}"'))
def move_with_reason(
    garimpo_api: GarimpoApi, crm: Crm, number: int, stage: str, reason: str
) -> None:
    _move(garimpo_api, crm, number, stage, reason)


@when(parsers.parse('movo a padaria {number:d} para a etapa "{stage}"'))
def move(garimpo_api: GarimpoApi, crm: Crm, number: int, stage: str) -> None:
    _move(garimpo_api, crm, number, stage, None)


@then(parsers.parse('a padaria {number:d} está na etapa "{stage}" com o motivo "{reason}"'))
def in_stage_with_reason(
    garimpo_api: GarimpoApi, crm: Crm, number: int, stage: str, reason: str
) -> None:
    lead = garimpo_api.get(f"/v1/leads/{crm.leads[number]}", api_key=crm.key).body["data"]
    assert lead["stage_id"] == _stages(garimpo_api, crm)[stage]
    assert lead["close_reason"] == reason


@then(parsers.parse('a padaria {number:d} está na etapa "{stage}"'))
def in_stage(garimpo_api: GarimpoApi, crm: Crm, number: int, stage: str) -> None:
    assert crm.last is not None and crm.last.status == 200, crm.last
    lead = garimpo_api.get(f"/v1/leads/{crm.leads[number]}", api_key=crm.key).body["data"]
    assert lead["stage_id"] == _stages(garimpo_api, crm)[stage]


@then(
    parsers.parse(
        'o histórico da padaria {number:d} tem a mudança de "{source}" para "{target}" feita '
        "pela chave de API"
    )
)
def history(garimpo_api: GarimpoApi, crm: Crm, number: int, source: str, target: str) -> None:
    stages = _stages(garimpo_api, crm)

    async def read() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(garimpo_api.container.database_url())
        try:
            return await conn.fetch(
                "SELECT from_stage_id, to_stage_id, actor_type, occurred_at FROM lead_event "
                "WHERE lead_id = $1 AND kind = 'stage_changed'",
                uuid.UUID(crm.leads[number]),
            )
        finally:
            await conn.close()

    rows = garimpo_api.run(read())
    assert len(rows) == 1
    assert str(rows[0]["from_stage_id"]) == stages[source]
    assert str(rows[0]["to_stage_id"]) == stages[target]
    assert rows[0]["actor_type"] == "api_key"
    assert rows[0]["occurred_at"] is not None


@then(
    parsers.parse(
        'o webhook "{event}" fica na fila de entrega com as etapas "{source}" e "{target}"'
    )
)
def webhook_queued(garimpo_api: GarimpoApi, crm: Crm, event: str, source: str, target: str) -> None:
    stages = _stages(garimpo_api, crm)

    async def read() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(garimpo_api.container.database_url())
        try:
            return await conn.fetch(
                "SELECT event_type, payload FROM webhook_delivery WHERE tenant_id = $1",
                uuid.UUID(crm.tenant_id),
            )
        finally:
            await conn.close()

    rows = garimpo_api.run(read())
    assert [row["event_type"] for row in rows] == [event]
    data = json.loads(rows[0]["payload"])["data"]
    assert (data["from_stage_id"], data["to_stage_id"]) == (stages[source], stages[target])


@then(parsers.parse('a mudança é recusada com o erro {status:d} e o código "{code}"'))
def refused(crm: Crm, status: int, code: str) -> None:
    assert crm.last is not None
    assert (crm.last.status, crm.last.body["code"]) == (status, code)
