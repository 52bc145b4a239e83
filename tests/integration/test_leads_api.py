"""Selections and leads over HTTP, through the real stack and PostgreSQL as the application role.

Companies come from ``external_company``, stored the way an api-cnaes lookup
stores them, so each test controls phones and e-mails. Every JSON response is
checked against the OpenAPI document by the contract client.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from typing import Any

import asyncpg
import pytest

from adapters.security.personal_data import AesGcmCipher
from domain.identity import Role
from entrypoints.container import Container, build_container, resolve_pii_key
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.api_client import ContractClient
from tests.support.companies import store_companies, valid_cnpj
from tests.support.credits import account_row
from tests.support.identity import (
    create_api_key,
    create_tenant,
    create_tenant_with_plan,
    create_user_session,
    owner_execute,
)

SELECTIONS = "/v1/preleads/selections"


def numbers(start: int, count: int) -> list[int]:
    return list(range(start, start + count))


def fresh_block() -> int:
    """A block of company numbers no other test uses, so CNPJs never clash."""
    return uuid.uuid4().int % 90_000_000 // 1000 * 1000 + 1_000_000


@pytest.fixture
def database(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


@pytest.fixture
def app_container(settings: Settings) -> Container:
    return build_container(settings)


@pytest.fixture
async def api(aiohttp_client: Any, app_container: Container) -> ContractClient:
    return ContractClient(await aiohttp_client(build_app(app_container)))


@pytest.fixture
async def tenant(database: str) -> dict[str, str]:
    tenant_id = await create_tenant(database, f"Padarias {uuid.uuid4().hex[:6]}")
    _key_id, key = await create_api_key(database, tenant_id)
    return {"id": tenant_id, "key": key}


async def stage_ids(database: str, tenant_id: str) -> dict[str, str]:
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT s.name, s.id FROM pipeline_stage s JOIN pipeline p ON p.id = s.pipeline_id "
            "WHERE p.tenant_id = $1 AND p.is_default",
            uuid.UUID(tenant_id),
        )
    finally:
        await conn.close()
    return {row["name"]: str(row["id"]) for row in rows}


async def import_lead(api: ContractClient, key: str, **row: Any) -> str:
    """Import one manual lead (a fresh CNPJ unless ``row`` names one) and return its id."""
    row.setdefault("cnpj", valid_cnpj(fresh_block()))
    result = await api.call("POST", "/v1/leads/import", key, {"leads": [row]})
    return str(result.data["rows"][0]["lead_id"])


# --- selections ------------------------------------------------------------------


async def test_selection_of_cnpjs_flags_instead_of_dropping(
    api: ContractClient, tenant: dict[str, str], database: str, settings: Settings
) -> None:
    block = fresh_block()
    cnpjs = [valid_cnpj(n) for n in numbers(block, 6)]
    await store_companies(
        database,
        cnpjs[:5],
        phones=[["+5541987650001"], [], ["+5541987650003"], ["+5541987650004"], ["+5541987650005"]],
        emails=["a@padaria-a.com.br", None, None, None, None],
    )
    # The fourth company asked not to be contacted; the fifth is already a lead.
    cipher = AesGcmCipher(resolve_pii_key(settings))
    await owner_execute(
        database,
        "INSERT INTO opt_out (tenant_id, kind, value_hash, source) VALUES (NULL, 'phone', $1, 'teste')",
        cipher.lookup_hash("phone", "+5541987650004"),
    )
    imported = await api.call(
        "POST", "/v1/leads/import", tenant["key"], {"leads": [{"cnpj": cnpjs[4]}]}
    )
    assert imported.data["summary"]["created"] == 1
    before = await account_row(database, tenant["id"])

    # Formatted, repeated and plain CNPJs: one pre-lead each.
    formatted = f"{cnpjs[0][:2]}.{cnpjs[0][2:5]}.{cnpjs[0][5:8]}/{cnpjs[0][8:12]}-{cnpjs[0][12:]}"
    created = await api.call(
        "POST", SELECTIONS, tenant["key"], {"name": "Padarias", "cnpjs": [formatted, *cnpjs]}
    )

    assert created.status == 201
    selection = created.data
    assert selection["item_count"] == 6
    assert selection["flag_counts"] == {
        "no_contact": 2,
        "not_in_registry": 1,
        "opted_out": 1,
        "already_lead": 1,
    }
    assert await account_row(database, tenant["id"]) == before

    items = await api.call("GET", f"{SELECTIONS}/{selection['id']}/items", tenant["key"])
    flags = {item["cnpj"]: item["flags"] for item in items.body["data"]}
    assert [item["cnpj"] for item in items.body["data"]] == cnpjs
    assert flags == {
        cnpjs[0]: [],
        cnpjs[1]: ["no_contact"],
        cnpjs[2]: [],
        cnpjs[3]: ["opted_out"],
        cnpjs[4]: ["already_lead"],
        cnpjs[5]: ["not_in_registry", "no_contact"],
    }
    assert items.body["data"][4]["lead_id"] == imported.data["rows"][0]["lead_id"]
    assert items.body["data"][0]["company"]["has_email"] is True

    only = await api.call(
        "GET", f"{SELECTIONS}/{selection['id']}/items?flag=no_contact", tenant["key"]
    )
    assert [item["cnpj"] for item in only.body["data"]] == [cnpjs[1], cnpjs[5]]


async def test_one_prelead_per_cnpj_across_selections(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    cnpjs = [valid_cnpj(n) for n in numbers(fresh_block(), 3)]
    await store_companies(database, cnpjs)

    first = await api.call("POST", SELECTIONS, tenant["key"], {"cnpjs": cnpjs})
    second = await api.call("POST", SELECTIONS, tenant["key"], {"cnpjs": cnpjs[1:]})

    one = await api.call("GET", f"{SELECTIONS}/{first.data['id']}/items", tenant["key"])
    two = await api.call("GET", f"{SELECTIONS}/{second.data['id']}/items", tenant["key"])
    ids_one = {item["cnpj"]: item["prelead_id"] for item in one.body["data"]}
    ids_two = {item["cnpj"]: item["prelead_id"] for item in two.body["data"]}
    assert ids_two == {cnpj: ids_one[cnpj] for cnpj in cnpjs[1:]}
    count = await owner_execute(
        database,
        "SELECT count(*) FROM prelead WHERE tenant_id = $1",
        uuid.UUID(tenant["id"]),
    )
    assert count == 3


async def test_selection_rules_answer_422(api: ContractClient, database: str) -> None:
    tenant_id = await create_tenant_with_plan(database, "Plano pequeno")
    await owner_execute(
        database,
        "UPDATE plan SET max_selection_size = 3 WHERE id = (SELECT plan_id FROM tenant WHERE id = $1)",
        uuid.UUID(tenant_id),
    )
    _key_id, key = await create_api_key(database, tenant_id)
    cnpjs = [valid_cnpj(n) for n in numbers(fresh_block(), 4)]

    too_large = await api.call("POST", SELECTIONS, key, {"cnpjs": cnpjs})
    invalid = await api.call("POST", SELECTIONS, key, {"cnpjs": [cnpjs[0], "11222333000182", "x"]})
    empty = await api.call("POST", SELECTIONS, key, {"cnpjs": []})
    both = await api.call(
        "POST", SELECTIONS, key, {"cnpjs": cnpjs, "search": {"cnaes": ["1091102"]}}
    )

    assert (too_large.status, too_large.body["code"]) == (422, "selection_too_large")
    assert too_large.body["max_selection_size"] == 3
    assert too_large.body["requested"] == 4
    assert (invalid.status, invalid.body["code"]) == (422, "invalid_cnpjs")
    assert "2: '11222333000182'" in invalid.body["detail"]
    assert "3: 'x'" in invalid.body["detail"]
    assert (empty.status, empty.body["code"]) == (422, "empty_selection")
    assert (both.status, both.body["code"]) == (400, "invalid_field")


async def test_list_read_rename_delete_and_other_tenants(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    cnpjs = [valid_cnpj(n) for n in numbers(fresh_block(), 3)]
    await store_companies(database, cnpjs)
    made = [
        (
            await api.call("POST", SELECTIONS, tenant["key"], {"name": f"Lote {i}", "cnpjs": cnpjs})
        ).data
        for i in range(3)
    ]

    page = await api.call("GET", f"{SELECTIONS}?per_page=2", tenant["key"])
    assert page.body["meta"] == {"page": 1, "per_page": 2, "total_items": 3, "total_pages": 2}
    assert [s["name"] for s in page.body["data"]] == ["Lote 2", "Lote 1"]

    renamed = await api.call(
        "PATCH", f"{SELECTIONS}/{made[0]['id']}", tenant["key"], {"name": "  Padarias   do centro "}
    )
    assert renamed.data["name"] == "Padarias do centro"
    blank = await api.call("PATCH", f"{SELECTIONS}/{made[0]['id']}", tenant["key"], {"name": " "})
    assert (blank.status, blank.body["code"]) == (422, "invalid_selection_name")

    other_id = await create_tenant(database, "Outra empresa")
    _kid, other_key = await create_api_key(database, other_id)
    for method, suffix in (("GET", ""), ("GET", "/items"), ("DELETE", "")):
        hidden = await api.call(method, f"{SELECTIONS}/{made[0]['id']}{suffix}", other_key)
        assert hidden.status == 404

    async with api.client.delete(
        f"{SELECTIONS}/{made[1]['id']}", headers={"X-API-Key": tenant["key"]}
    ) as response:
        assert response.status == 204
    gone = await api.call("GET", f"{SELECTIONS}/{made[1]['id']}", tenant["key"])
    assert (gone.status, gone.body["code"]) == (404, "not_found")


# --- leads -------------------------------------------------------------------------


async def test_import_dedups_by_cnpj_and_by_shared_contact(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    cnpjs = [valid_cnpj(n) for n in numbers(fresh_block(), 3)]
    rows = [
        {"cnpj": cnpjs[0], "company_name": "Padaria Pão Quente", "phones": ["(41) 98765-4321"]},
        # The same CNPJ again, in the same request.
        {"cnpj": cnpjs[0]},
        # Another CNPJ with the same phone written another way.
        {"cnpj": cnpjs[1], "phones": ["+55 41 9 8765-4321"], "emails": ["Vendas@Padaria.com.br"]},
        {"cnpj": cnpjs[2], "emails": ["vendas@padaria.com.br."]},
    ]
    result = await api.call("POST", "/v1/leads/import", tenant["key"], {"leads": rows})

    outcomes = result.data["rows"]
    assert [o["result"] for o in outcomes] == [
        "created", "already_lead", "possible_duplicate", "created",
    ]  # fmt: skip
    assert outcomes[1]["lead_id"] == outcomes[0]["lead_id"]
    assert outcomes[2]["duplicate_of"] == outcomes[0]["lead_id"]
    assert result.data["summary"] == {"created": 2, "already_lead": 1, "possible_duplicate": 1}

    # An invalid address (trailing dot) does not count as shared contact.
    fourth = await api.call("GET", f"/v1/leads/{outcomes[3]['lead_id']}", tenant["key"])
    assert fourth.data["review_status"] is None
    assert fourth.data["contacts"][0]["valid"] is False

    listed = await api.call("GET", "/v1/leads", tenant["key"])
    assert {lead["cnpj"] for lead in listed.body["data"]} == {cnpjs[0], cnpjs[2]}
    review = await api.call("GET", "/v1/leads?review_status=possible_duplicate", tenant["key"])
    assert [lead["cnpj"] for lead in review.body["data"]] == [cnpjs[1]]

    stages = await stage_ids(database, tenant["id"])
    blocked = await api.call(
        "POST", f"/v1/leads/{outcomes[2]['lead_id']}/move", tenant["key"],
        {"stage_id": stages["Em contato"]},
    )  # fmt: skip
    assert (blocked.status, blocked.body["code"]) == (422, "duplicate_review_pending")

    distinct = await api.call(
        "POST", f"/v1/leads/{outcomes[2]['lead_id']}/resolve-duplicate", tenant["key"],
        {"resolution": "distinct"},
    )  # fmt: skip
    assert distinct.data["review_status"] is None
    again = await api.call(
        "POST", f"/v1/leads/{outcomes[2]['lead_id']}/resolve-duplicate", tenant["key"],
        {"resolution": "duplicate"},
    )  # fmt: skip
    assert (again.status, again.body["code"]) == (422, "not_a_possible_duplicate")


async def test_merging_a_duplicate_hides_it(api: ContractClient, tenant: dict[str, str]) -> None:
    cnpjs = [valid_cnpj(n) for n in numbers(fresh_block(), 2)]
    rows = [{"cnpj": cnpj, "emails": ["compras@moinho.com.br"]} for cnpj in cnpjs]
    result = await api.call("POST", "/v1/leads/import", tenant["key"], {"leads": rows})
    duplicate = result.data["rows"][1]["lead_id"]

    merged = await api.call(
        "POST",
        f"/v1/leads/{duplicate}/resolve-duplicate",
        tenant["key"],
        {"resolution": "duplicate"},
    )
    assert merged.status == 200

    assert (await api.call("GET", f"/v1/leads/{duplicate}", tenant["key"])).status == 404
    listed = await api.call("GET", "/v1/leads?include_merged=true", tenant["key"])
    assert duplicate in {lead["id"] for lead in listed.body["data"]}


async def test_contacts_are_encrypted_with_a_keyed_hash(
    api: ContractClient, tenant: dict[str, str], database: str, settings: Settings
) -> None:
    cnpj = valid_cnpj(fresh_block())
    await api.call(
        "POST", "/v1/leads/import", tenant["key"],
        {"leads": [{"cnpj": cnpj, "phones": ["41 3333-4444"], "emails": ["dono@moinho.com.br"]}]},
    )  # fmt: skip

    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT kind, value_encrypted, value_hash, phone_type FROM lead_contact c "
            "JOIN lead l ON l.id = c.lead_id WHERE l.cnpj = $1 ORDER BY kind",
            cnpj,
        )
    finally:
        await conn.close()

    cipher = AesGcmCipher(resolve_pii_key(settings))
    assert [row["kind"] for row in rows] == ["email", "phone"]
    assert b"moinho" not in bytes(rows[0]["value_encrypted"])
    assert b"33334444" not in bytes(rows[1]["value_encrypted"])
    assert cipher.decrypt(bytes(rows[1]["value_encrypted"])) == "+554133334444"
    assert bytes(rows[1]["value_hash"]) == cipher.lookup_hash("phone", "+554133334444")
    assert rows[1]["phone_type"] == "landline"


async def test_move_records_event_and_needs_reason(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    cnpj = valid_cnpj(fresh_block())
    lead_id = await import_lead(api, tenant["key"], cnpj=cnpj)
    stages = await stage_ids(database, tenant["id"])
    lead = await api.call("GET", f"/v1/leads/{lead_id}", tenant["key"])
    assert lead.data["stage_id"] == stages["Novo"]
    assert lead.data["origin"] == "manual"

    lost = await api.call(
        "POST", f"/v1/leads/{lead_id}/move", tenant["key"], {"stage_id": stages["Perdido"]}
    )
    assert (lost.status, lost.body["code"], lost.body["field"]) == (
        422,
        "reason_required",
        "reason",
    )
    unknown = await api.call(
        "POST", f"/v1/leads/{lead_id}/move", tenant["key"], {"stage_id": str(uuid.uuid4())}
    )
    assert (unknown.status, unknown.body["code"]) == (422, "unknown_stage")

    won = await api.call(
        "POST", f"/v1/leads/{lead_id}/move", tenant["key"],
        {"stage_id": stages["Ganho"], "reason": "Fechou contrato anual"},
    )  # fmt: skip
    assert won.data["stage_id"] == stages["Ganho"]
    assert won.data["close_reason"] == "Fechou contrato anual"

    events = await owner_execute(
        database,
        "SELECT array_agg(kind || ':' || coalesce(reason, '') ORDER BY occurred_at) "
        "FROM lead_event WHERE lead_id = $1",
        uuid.UUID(lead_id),
    )
    assert events == ["created:", "stage_changed:Fechou contrato anual"]


async def test_update_checks_owner_tags_and_custom_fields(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    lead_id = await import_lead(api, tenant["key"])
    account_id, _session, _email = await create_user_session(database, tenant["id"], Role.SALES)
    outsider_tenant = await create_tenant(database, "Outra")
    outsider, _s, _e = await create_user_session(database, outsider_tenant, Role.SALES)
    await owner_execute(
        database,
        "INSERT INTO lead_field (tenant_id, key, label, type, choices) VALUES "
        "($1, 'funcionarios', 'Funcionários', 'number', '{}'), "
        "($1, 'porte', 'Porte', 'choice', '{pequeno,médio}')",
        uuid.UUID(tenant["id"]),
    )

    updated = await api.call(
        "PATCH", f"/v1/leads/{lead_id}", tenant["key"],
        {"owner_id": account_id, "tags": ["Feira", "feira ", "VIP"], "notes": "Ligar às 14h",
         "custom_fields": {"funcionarios": 12, "porte": "médio"}},
    )  # fmt: skip
    assert updated.data["owner_id"] == account_id
    assert updated.data["tags"] == ["Feira", "VIP"]
    assert updated.data["custom_fields"] == {"funcionarios": 12, "porte": "médio"}

    cases = [
        ({"owner_id": outsider}, "unknown_owner"),
        ({"custom_fields": {"faturamento": 1}}, "unknown_custom_field"),
        ({"custom_fields": {"porte": "grande"}}, "invalid_custom_field"),
        ({"custom_fields": {"funcionarios": "doze"}}, "invalid_custom_field"),
        ({"tags": ["x" * 41]}, "invalid_tag"),
    ]
    for body, code in cases:
        refused = await api.call("PATCH", f"/v1/leads/{lead_id}", tenant["key"], body)
        assert (refused.status, refused.body["code"]) == (422, code), body

    cleared = await api.call(
        "PATCH", f"/v1/leads/{lead_id}", tenant["key"], {"custom_fields": {"porte": None}}
    )
    assert cleared.data["custom_fields"] == {"funcionarios": 12}


async def test_list_filters_and_paginates(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    cnpjs = [valid_cnpj(n) for n in numbers(fresh_block(), 5)]
    await store_companies(database, cnpjs, uf="SC", ibge_code="4205407")
    rows = [{"cnpj": cnpj, "tags": ["sul"] if i % 2 else []} for i, cnpj in enumerate(cnpjs)]
    rows[0]["company_name"] = "Confeitaria São João"
    await api.call("POST", "/v1/leads/import", tenant["key"], {"leads": rows})

    page = await api.call("GET", "/v1/leads?per_page=2&page=3", tenant["key"])
    assert page.body["meta"] == {"page": 3, "per_page": 2, "total_items": 5, "total_pages": 3}
    text = await api.call("GET", "/v1/leads?q=SAO%20joao", tenant["key"])
    assert [lead["cnpj"] for lead in text.body["data"]] == [cnpjs[0]]
    tagged = await api.call("GET", "/v1/leads?tag=sul", tenant["key"])
    assert {lead["cnpj"] for lead in tagged.body["data"]} == {cnpjs[1], cnpjs[3]}
    place = await api.call("GET", "/v1/leads?uf=sc&municipio_ibge=4205407", tenant["key"])
    assert place.body["meta"]["total_items"] == 5
    assert place.body["data"][0]["contacts"][0]["value"].startswith("+55419")
    for query, field in [
        ("created_from=ontem", "created_from"),
        ("uf=XX", "uf"),
        ("cnae=123", "cnae"),
        ("municipio_ibge=curitiba", "municipio_ibge"),
    ]:
        bad = await api.call("GET", f"/v1/leads?{query}", tenant["key"])
        assert (bad.status, bad.body["field"]) == (400, field), query


async def test_csv_export_opens_in_a_brazilian_spreadsheet(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    rows = [
        {"cnpj": valid_cnpj(n), "company_name": name, "phones": [f"(41) 98765-{n % 10000:04d}"]}
        for n, name in zip(
            numbers(fresh_block(), 2), ["=HYPERLINK(1)", "Padaria Açaí"], strict=True
        )
    ]
    await api.call("POST", "/v1/leads/import", tenant["key"], {"leads": rows, "tags": ["feira"]})

    async with api.client.get(
        "/v1/leads?format=csv", headers={"X-API-Key": tenant["key"]}
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        raw = await response.read()

    assert raw.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert table[0][:3] == ["CNPJ", "Razão social", "Nome fantasia"]
    names = sorted(row[1] for row in table[1:])
    assert names == ["'=HYPERLINK(1)", "Padaria Açaí"]
    assert {row[6] for row in table[1:]} == {"Novo"}
    assert {row[12] for row in table[1:]} == {"feira"}
    # Phones in the national form, which a spreadsheet shows as typed.
    assert all(re.fullmatch(r"\(41\) 98765-\d{4}", row[10]) for row in table[1:])
    assert table[0][17] == "ID do lead"
    assert all(uuid.UUID(row[17]) for row in table[1:])


async def test_stage_change_is_published_to_subscribed_endpoints(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    await owner_execute(
        database,
        "INSERT INTO webhook_endpoint (tenant_id, url, events, secret) "
        "VALUES ($1, 'https://crm.exemplo.com.br/ganchos', '{lead.stage_changed}', 'whsec_teste')",
        uuid.UUID(tenant["id"]),
    )
    lead_id = await import_lead(api, tenant["key"])
    stages = await stage_ids(database, tenant["id"])

    await api.call(
        "POST", f"/v1/leads/{lead_id}/move", tenant["key"], {"stage_id": stages["Em contato"]}
    )

    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT event_type, payload FROM webhook_delivery WHERE tenant_id = $1",
            uuid.UUID(tenant["id"]),
        )
    finally:
        await conn.close()
    assert [row["event_type"] for row in rows] == ["lead.stage_changed"]
    data = json.loads(rows[0]["payload"])["data"]
    assert data["lead_id"] == lead_id
    assert data["to_stage_id"] == stages["Em contato"]
    assert data["from_stage_id"] == stages["Novo"]
    assert "contacts" not in data


async def test_reading_contacts_is_audited(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    cnpj = valid_cnpj(fresh_block())
    lead_id = await import_lead(api, tenant["key"], cnpj=cnpj, emails=["dono@moinho.com.br"])

    await api.call("GET", f"/v1/leads/{lead_id}", tenant["key"])
    await api.call("GET", "/v1/leads", tenant["key"])

    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT action, target_id, detail FROM audit_event WHERE tenant_id = $1 "
            "AND action LIKE 'lead.%' ORDER BY occurred_at",
            uuid.UUID(tenant["id"]),
        )
    finally:
        await conn.close()
    actions = [(row["action"], json.loads(row["detail"])["cnpjs"]) for row in rows[1:]]
    assert rows[0]["action"] == "lead.imported"
    assert actions == [("lead.viewed", [cnpj]), ("lead.listed", [cnpj])]


async def test_selection_flags_and_counts_follow_later_leads(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    cnpjs = [valid_cnpj(n) for n in numbers(fresh_block(), 3)]
    await store_companies(database, cnpjs)
    made = (await api.call("POST", SELECTIONS, tenant["key"], {"cnpjs": cnpjs})).data
    assert made["flag_counts"] == {}

    imported = await api.call(
        "POST", "/v1/leads/import", tenant["key"], {"leads": [{"cnpj": cnpjs[1]}]}
    )
    lead_id = imported.data["rows"][0]["lead_id"]

    items = await api.call("GET", f"{SELECTIONS}/{made['id']}/items", tenant["key"])
    flagged = await api.call(
        "GET", f"{SELECTIONS}/{made['id']}/items?flag=already_lead", tenant["key"]
    )
    listed = await api.call("GET", SELECTIONS, tenant["key"])
    assert items.body["data"][1]["flags"] == ["already_lead"]
    assert items.body["data"][1]["lead_id"] == lead_id
    assert [item["cnpj"] for item in flagged.body["data"]] == [cnpjs[1]]
    summary = next(s for s in listed.body["data"] if s["id"] == made["id"])
    assert summary["flag_counts"] == {"already_lead": 1}
    assert summary["status_counts"] == {"selected": 3}


async def test_merge_keeps_tags_and_contacts(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    cnpjs = [valid_cnpj(n) for n in numbers(fresh_block(), 2)]
    rows = [
        {"cnpj": cnpjs[0], "emails": ["compras@moinho.com.br"], "tags": ["feira"]},
        {"cnpj": cnpjs[1], "emails": ["compras@moinho.com.br"], "phones": ["(41) 3030-4040"],
         "tags": ["VIP"]},
    ]  # fmt: skip
    outcome = (await api.call("POST", "/v1/leads/import", tenant["key"], {"leads": rows})).data
    survivor, duplicate = (row["lead_id"] for row in outcome["rows"])

    await api.call(
        "POST",
        f"/v1/leads/{duplicate}/resolve-duplicate",
        tenant["key"],
        {"resolution": "duplicate"},
    )

    kept = (await api.call("GET", f"/v1/leads/{survivor}", tenant["key"])).data
    assert kept["tags"] == ["feira", "VIP"]
    assert sorted(c["value"] for c in kept["contacts"]) == [
        "+554130304040",
        "compras@moinho.com.br",
    ]
    merged = await api.call("GET", "/v1/leads?include_merged=true&tag=vip", tenant["key"])
    assert {lead["id"]: lead["merged_into"] for lead in merged.body["data"]} == {
        survivor: None,
        duplicate: survivor,
    }

    again = await api.call(
        "POST", "/v1/leads/import", tenant["key"], {"leads": [{"cnpj": cnpjs[1]}]}
    )
    assert again.data["rows"][0] == {
        "position": 1, "cnpj": cnpjs[1], "result": "already_lead", "lead_id": survivor,
        "duplicate_of": None, "invalid_contacts": 0,
    }  # fmt: skip
    selection = (await api.call("POST", SELECTIONS, tenant["key"], {"cnpjs": [cnpjs[1]]})).data
    items = await api.call("GET", f"{SELECTIONS}/{selection['id']}/items", tenant["key"])
    assert items.body["data"][0]["flags"][0] == "already_lead"
    assert items.body["data"][0]["lead_id"] == survivor


async def test_import_keeps_registry_contacts(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    cnpj = valid_cnpj(fresh_block())
    await store_companies(
        database, [cnpj], phones=[["+5541987650077"]], emails=["contato@padaria.com.br"]
    )

    outcome = await api.call(
        "POST", "/v1/leads/import", tenant["key"],
        {"leads": [{"cnpj": cnpj, "phones": ["123"], "emails": ["fulano@mailinator.com"]}]},
    )  # fmt: skip

    assert outcome.data["rows"][0]["invalid_contacts"] == 2
    lead = (
        await api.call("GET", f"/v1/leads/{outcome.data['rows'][0]['lead_id']}", tenant["key"])
    ).data
    contacts = {(c["value"], c["valid"], c["source"], c["whatsapp"]) for c in lead["contacts"]}
    assert contacts == {
        ("123", False, "manual", "unknown"),
        ("fulano@mailinator.com", False, "manual", None),
        ("+5541987650077", True, "api-cnaes", "unknown"),
        ("contato@padaria.com.br", True, "api-cnaes", None),
    }


async def test_closing_again_with_a_new_reason_corrects_it(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    lead_id = await import_lead(api, tenant["key"])
    lost = (await stage_ids(database, tenant["id"]))["Perdido"]

    await api.call(
        "POST", f"/v1/leads/{lead_id}/move", tenant["key"], {"stage_id": lost, "reason": "Preço"}
    )
    corrected = await api.call(
        "POST", f"/v1/leads/{lead_id}/move", tenant["key"],
        {"stage_id": lost, "reason": "Comprou de um concorrente"},
    )  # fmt: skip

    assert corrected.data["close_reason"] == "Comprou de um concorrente"


async def test_filters_ignore_tag_case_and_read_formatted_cnpjs(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    cnpj = valid_cnpj(fresh_block())
    await api.call(
        "POST", "/v1/leads/import", tenant["key"], {"leads": [{"cnpj": cnpj, "tags": ["VIP"]}]}
    )
    formatted = f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"

    by_tag = await api.call("GET", "/v1/leads?tag=vip", tenant["key"])
    by_cnpj = await api.call("GET", f"/v1/leads?q={formatted}", tenant["key"])

    assert [lead["cnpj"] for lead in by_tag.body["data"]] == [cnpj]
    assert [lead["cnpj"] for lead in by_cnpj.body["data"]] == [cnpj]


async def test_created_days_are_the_tenants_days(
    api: ContractClient, tenant: dict[str, str], database: str
) -> None:
    lead_id = await import_lead(api, tenant["key"])
    # 01:30 UTC on 5 December is still 4 December in São Paulo (UTC-3).
    await owner_execute(
        database,
        "UPDATE lead SET created_at = '2026-12-05T01:30:00Z' WHERE id = $1",
        uuid.UUID(lead_id),
    )

    on_fourth = await api.call(
        "GET", "/v1/leads?created_from=2026-12-04&created_to=2026-12-04", tenant["key"]
    )
    on_fifth = await api.call(
        "GET", "/v1/leads?created_from=2026-12-05&created_to=2026-12-05", tenant["key"]
    )

    assert [lead["id"] for lead in on_fourth.body["data"]] == [lead_id]
    assert on_fifth.body["data"] == []
