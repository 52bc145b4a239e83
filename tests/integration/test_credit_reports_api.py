"""Credit routes over HTTP: balance, statement (JSON and CSV), usage, and the host's operations.

Everything goes through the real stack and PostgreSQL as the application
role; JSON responses are checked against the OpenAPI document. Holds and
captures come from the qualification use case, the way qualification will
post them; grants, adjustments and reversals come from the host API.
Statements with fixed dates use entries inserted as the owner, so that days
and timezones can be checked to the second.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
import zoneinfo
from typing import Any

import asyncpg
import pytest

from domain.audit import SYSTEM_ACTOR, Actor, ActorType
from domain.credits import ReleaseReason
from domain.identity import Role
from entrypoints.container import Container, build_container, provide
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.api_client import ApiResult, ContractClient
from tests.support.credits import create_preleads
from tests.support.identity import (
    access_claims,
    create_api_key,
    create_host_key,
    create_tenant,
    create_user_session,
    owner_execute,
)

SAO_PAULO = zoneinfo.ZoneInfo("America/Sao_Paulo")


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def problem(result: ApiResult) -> tuple[int, str, str | None]:
    return result.status, result.body["code"], result.body.get("field")


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
async def host_key(database: str) -> str:
    return await create_host_key(database)


@pytest.fixture
async def tenant(database: str) -> dict[str, str]:
    """A tenant, an API key with every tenant scope, and its id."""
    tenant_id = await create_tenant(database, unique("Créditos"))
    _key_id, key = await create_api_key(database, tenant_id)
    return {"id": tenant_id, "key": key}


async def grant(
    api: ContractClient, host_key: str, tenant_id: str, amount: int, **extra: Any
) -> dict[str, Any]:
    result = await api.call(
        "POST",
        f"/v1/host/tenants/{tenant_id}/credits/grants",
        host_key,
        {"amount": amount, **extra},
    )
    assert result.status == 201, result.body
    entry: dict[str, Any] = result.data
    return entry


async def user_actor(database: str, tenant_id: str) -> Actor:
    account_id, _session, email = await create_user_session(database, tenant_id, Role.SALES)
    return Actor(type=ActorType.ACCOUNT, id=account_id, label=email)


async def token_of(container: Container, database: str, tenant_id: str | None, role: Role) -> str:
    account_id, session_id, email = await create_user_session(database, tenant_id, role)
    tokens = await provide(container.access_tokens)
    return str(tokens.issue(access_claims(account_id, session_id, tenant_id, role, email)))


async def insert_entries(database: str, tenant_id: str, entries: list[dict[str, Any]]) -> None:
    """Append consistent grant and adjustment entries with chosen times, as the owner."""
    conn = await asyncpg.connect(database)
    try:
        balance = 0
        for seq, values in enumerate(entries, start=1):
            amount = values["amount"]
            await conn.execute(
                """
                INSERT INTO credit_entry (
                    tenant_id, seq, kind, amount, held_change, balance_before, balance_after,
                    held_before, held_after, reason, reference_type, reference_id,
                    idempotency_key, actor_type, actor_id, actor_label, created_at
                ) VALUES ($1, $2, $3, $4, 0, $5, $6, 0, 0, $7, 'admin', NULL, $8,
                          'account', NULL, $9, $10)
                """,
                uuid.UUID(tenant_id),
                seq,
                values["kind"],
                amount,
                balance,
                balance + amount,
                values.get("reason"),
                f"teste:{uuid.uuid4()}",
                values.get("label", "ops@garimpo.com.br"),
                values["at"],
            )
            balance += amount
    finally:
        await conn.close()


# --- balance ----------------------------------------------------------------------------


async def test_balance_of_new_tenant_is_zero(api: ContractClient, tenant: dict[str, str]) -> None:
    result = await api.call("GET", "/v1/billing/balance", tenant["key"])

    assert result.status == 200
    assert result.data == {
        "balance": 0,
        "held": 0,
        "available": 0,
        "pending_captures": 0,
        "low_balance_threshold": 10,
    }


async def test_coverage_says_how_many_preleads_fit(
    api: ContractClient, host_key: str, tenant: dict[str, str]
) -> None:
    await grant(api, host_key, tenant["id"], 3)

    partly = await api.call("GET", "/v1/billing/coverage?preleads=5", tenant["key"])
    fully = await api.call("GET", "/v1/billing/coverage?preleads=2", tenant["key"])

    assert partly.status == 200
    assert (partly.data["covered"], partly.data["missing"]) == (3, 2)
    assert (fully.data["covered"], fully.data["missing"]) == (2, 0)
    assert partly.data["available"] == 3


async def test_coverage_needs_a_count(api: ContractClient, tenant: dict[str, str]) -> None:
    missing = await api.call("GET", "/v1/billing/coverage", tenant["key"])
    zero = await api.call("GET", "/v1/billing/coverage?preleads=0", tenant["key"])

    assert problem(missing)[0] == 400
    assert problem(missing)[2] == "preleads"
    assert problem(zero) == (400, "invalid_field", "preleads")
    assert "pré-leads" in zero.body["detail"]


async def test_grant_shows_in_balance_and_ledger(
    api: ContractClient, host_key: str, tenant: dict[str, str]
) -> None:
    entry = await grant(api, host_key, tenant["id"], 50, reason="Pacote inicial")

    balance = await api.call("GET", "/v1/billing/balance", tenant["key"])
    ledger = await api.call("GET", "/v1/billing/ledger", tenant["key"])

    assert entry["kind"] == "grant"
    assert entry["kind_label"] == "Concessão"
    assert entry["amount"] == 50
    assert entry["balance_after"] == 50
    assert entry["actor"]["type"] == "api_key"
    assert balance.data["balance"] == 50
    assert balance.data["available"] == 50
    assert [item["id"] for item in ledger.data] == [entry["id"]]
    assert ledger.body["meta"]["total_items"] == 1


async def test_balance_needs_credentials_and_billing_permission(
    api: ContractClient, app_container: Container, database: str, tenant: dict[str, str]
) -> None:
    viewer = await token_of(app_container, database, tenant["id"], Role.VIEWER)
    sales = await token_of(app_container, database, tenant["id"], Role.SALES)

    anonymous = await api.call("GET", "/v1/billing/balance", None)
    refused = await api.call(
        "GET", "/v1/billing/balance", None, headers={"Authorization": f"Bearer {viewer}"}
    )
    allowed = await api.call(
        "GET", "/v1/billing/balance", None, headers={"Authorization": f"Bearer {sales}"}
    )

    assert problem(anonymous) == (401, "authentication_required", None)
    assert problem(refused) == (403, "forbidden", None)
    assert "papel" in refused.body["detail"]
    assert allowed.status == 200


async def test_host_admin_inside_tenant_reads_its_balance(
    api: ContractClient, app_container: Container, database: str, tenant: dict[str, str]
) -> None:
    host_admin = await token_of(app_container, database, None, Role.HOST_ADMIN)

    result = await api.call(
        "GET",
        "/v1/billing/balance",
        None,
        headers={"Authorization": f"Bearer {host_admin}", "X-Tenant-ID": tenant["id"]},
    )

    assert result.status == 200
    assert result.data["balance"] == 0


# --- host operations ----------------------------------------------------------------------


async def test_grant_with_same_idempotency_key_grants_once(
    api: ContractClient, host_key: str, tenant: dict[str, str]
) -> None:
    path = f"/v1/host/tenants/{tenant['id']}/credits/grants"
    headers = {"Idempotency-Key": f"pedido-{uuid.uuid4()}"}

    first = await api.call("POST", path, host_key, {"amount": 30}, headers=headers)
    again = await api.call("POST", path, host_key, {"amount": 30}, headers=headers)
    other_key = await api.call(
        "POST", path, host_key, {"amount": 30}, headers={"Idempotency-Key": "outro-pedido"}
    )
    balance = await api.call("GET", "/v1/billing/balance", tenant["key"])

    assert first.status == 201
    assert again.status == 200
    assert again.data["id"] == first.data["id"]
    assert other_key.status == 201
    assert other_key.data["id"] != first.data["id"]
    assert balance.data["balance"] == 60


async def test_replayed_grant_says_so_in_a_header(
    api: ContractClient, host_key: str, tenant: dict[str, str]
) -> None:
    path = f"/v1/host/tenants/{tenant['id']}/credits/grants"
    headers = {"Idempotency-Key": str(uuid.uuid4()), "X-API-Key": host_key}

    async with api.client.post(path, json={"amount": 5}, headers=headers) as created:
        assert created.status == 201
        assert "Idempotent-Replayed" not in created.headers
    async with api.client.post(path, json={"amount": 5}, headers=headers) as replayed:
        assert replayed.status == 200
        assert replayed.headers["Idempotent-Replayed"] == "true"


async def test_reused_key_with_another_amount_is_409(
    api: ContractClient, host_key: str, tenant: dict[str, str]
) -> None:
    path = f"/v1/host/tenants/{tenant['id']}/credits/grants"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    await api.call("POST", path, host_key, {"amount": 50}, headers=key)

    other_amount = await api.call("POST", path, host_key, {"amount": 70}, headers=key)
    other_reason = await api.call(
        "POST", path, host_key, {"amount": 50, "reason": "Outro"}, headers=key
    )
    balance = await api.call("GET", "/v1/billing/balance", tenant["key"])

    assert problem(other_amount) == (409, "idempotency_key_reused", "Idempotency-Key")
    assert problem(other_reason)[1] == "idempotency_key_reused"
    assert "chave nova" in other_amount.body["detail"]
    assert balance.data["balance"] == 50


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        ({"amount": 0}, {}, (400, "invalid_credit_operation", "amount")),
        ({"amount": -5}, {}, (400, "invalid_credit_operation", "amount")),
        ({"amount": "10"}, {}, (400, "invalid_credit_operation", "amount")),
        ({"amount": 10_000_001}, {}, (400, "invalid_credit_operation", "amount")),
        ({"amount": 10, "bonus": True}, {}, (400, "invalid_field", "bonus")),
        (
            {"amount": 10, "expires_at": "2020-01-01T00:00:00Z"},
            {},
            (400, "invalid_credit_operation", "expires_at"),
        ),
        (
            {"amount": 10, "expires_at": "2030-01-01T00:00:00"},
            {},
            (400, "invalid_field", "expires_at"),
        ),
        ({"amount": 10}, {"Idempotency-Key": "x" * 201}, (400, "invalid_field", "Idempotency-Key")),
    ],
)
async def test_invalid_grants_are_400_in_portuguese(
    api: ContractClient,
    host_key: str,
    tenant: dict[str, str],
    body: dict[str, Any],
    headers: dict[str, str],
    expected: tuple[int, str, str],
) -> None:
    result = await api.call(
        "POST", f"/v1/host/tenants/{tenant['id']}/credits/grants", host_key, body, headers=headers
    )

    assert problem(result) == expected
    assert result.body["detail"][0].isupper()
    assert result.body["title"] == "Requisição inválida"


async def test_grant_with_expiry_shows_the_date(
    api: ContractClient, host_key: str, tenant: dict[str, str]
) -> None:
    expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=90)

    entry = await grant(api, host_key, tenant["id"], 12, expires_at=expires.isoformat())
    ledger = await api.call("GET", "/v1/billing/ledger", tenant["key"])
    plain = await grant(api, host_key, tenant["id"], 3)

    assert entry["amount"] == 12
    assert dt.datetime.fromisoformat(entry["expires_at"]) == expires
    assert ledger.body["data"][0]["expires_at"] == entry["expires_at"]
    assert plain["expires_at"] is None


async def test_adjustment_needs_a_reason(
    api: ContractClient, host_key: str, tenant: dict[str, str]
) -> None:
    path = f"/v1/host/tenants/{tenant['id']}/credits/adjustments"

    missing = await api.call("POST", path, host_key, {"amount": 5})
    blank = await api.call("POST", path, host_key, {"amount": 5, "reason": "   "})
    zero = await api.call("POST", path, host_key, {"amount": 0, "reason": "Correção"})

    assert problem(missing) == (400, "invalid_credit_operation", "reason")
    assert missing.body["detail"] == "Informe o motivo do lançamento."
    assert problem(blank) == (400, "invalid_credit_operation", "reason")
    assert problem(zero) == (400, "invalid_credit_operation", "amount")


async def test_adjustment_up_and_down(
    api: ContractClient, host_key: str, tenant: dict[str, str]
) -> None:
    path = f"/v1/host/tenants/{tenant['id']}/credits/adjustments"

    up = await api.call("POST", path, host_key, {"amount": 20, "reason": "Bônus de boas-vindas"})
    down = await api.call("POST", path, host_key, {"amount": -8, "reason": "Concedido a mais"})
    balance = await api.call("GET", "/v1/billing/balance", tenant["key"])

    assert (up.status, down.status) == (201, 201)
    assert down.data["kind_label"] == "Ajuste"
    assert down.data["reason"] == "Concedido a mais"
    assert balance.data["balance"] == 12


async def test_adjustment_beyond_available_is_409_with_the_numbers(
    api: ContractClient, host_key: str, tenant: dict[str, str]
) -> None:
    await grant(api, host_key, tenant["id"], 5)

    result = await api.call(
        "POST",
        f"/v1/host/tenants/{tenant['id']}/credits/adjustments",
        host_key,
        {"amount": -1000, "reason": "Correção"},
    )

    assert problem(result) == (409, "insufficient_credits", None)
    assert result.body["available"] == 5
    assert result.body["requested"] == 1000
    assert "partial=true" not in result.body["detail"]
    assert result.body["balance"] == 5
    assert result.body["held"] == 0
    assert "Saldo insuficiente" in result.body["detail"]


async def test_reversal_rules(
    api: ContractClient,
    app_container: Container,
    database: str,
    host_key: str,
    tenant: dict[str, str],
) -> None:
    granted = await grant(api, host_key, tenant["id"], 10)
    [prelead] = await create_preleads(database, tenant["id"], 1)
    qualification = await provide(app_container.qualification_credits)
    await qualification.hold(await user_actor(database, tenant["id"]), tenant["id"], [prelead])
    holds = await api.call("GET", "/v1/billing/ledger?kind=hold", tenant["key"])
    base = f"/v1/host/tenants/{tenant['id']}/credits/entries"
    reason = {"reason": "Concessão lançada no tenant errado"}

    reversed_ = await api.call("POST", f"{base}/{granted['id']}/reversal", host_key, reason)
    twice = await api.call("POST", f"{base}/{granted['id']}/reversal", host_key, reason)
    hold = await api.call("POST", f"{base}/{holds.data[0]['id']}/reversal", host_key, reason)
    unknown = await api.call("POST", f"{base}/{uuid.uuid4()}/reversal", host_key, reason)
    malformed = await api.call("POST", f"{base}/nao-e-um-id/reversal", host_key, reason)
    no_reason = await api.call("POST", f"{base}/{granted['id']}/reversal", host_key, {})

    # The grant of 10 has one credit held, so its reversal would eat held credits.
    assert problem(reversed_) == (409, "insufficient_credits", None)

    await qualification.release(SYSTEM_ACTOR, tenant["id"], prelead, reason=ReleaseReason.NO_ANSWER)
    reversed_ = await api.call("POST", f"{base}/{granted['id']}/reversal", host_key, reason)
    twice = await api.call("POST", f"{base}/{granted['id']}/reversal", host_key, reason)

    assert reversed_.status == 201
    assert reversed_.data["kind"] == "reversal"
    assert reversed_.data["amount"] == -10
    assert reversed_.data["reverses_entry_id"] == granted["id"]
    assert problem(twice) == (409, "credit_entry_already_reversed", "entry_id")
    assert twice.body["detail"] == "Este lançamento já foi estornado."
    assert problem(hold) == (409, "credit_entry_not_reversible", "entry_id")
    assert problem(unknown) == (404, "credit_entry_not_found", "entry_id")
    assert problem(malformed) == (404, "credit_entry_not_found", "entry_id")
    assert problem(no_reason) == (400, "invalid_credit_operation", "reason")


async def test_reversal_of_another_tenants_entry_is_404(
    api: ContractClient, host_key: str, database: str, tenant: dict[str, str]
) -> None:
    other = await create_tenant(database, unique("Outro"))
    theirs = await grant(api, host_key, other, 10)

    result = await api.call(
        "POST",
        f"/v1/host/tenants/{tenant['id']}/credits/entries/{theirs['id']}/reversal",
        host_key,
        {"reason": "Teste de isolamento"},
    )

    assert problem(result) == (404, "credit_entry_not_found", "entry_id")


async def test_reversal_of_a_capture_gives_the_credit_back(
    api: ContractClient,
    app_container: Container,
    database: str,
    host_key: str,
    tenant: dict[str, str],
) -> None:
    await grant(api, host_key, tenant["id"], 3)
    [prelead] = await create_preleads(database, tenant["id"], 1)
    qualification = await provide(app_container.qualification_credits)
    actor = await user_actor(database, tenant["id"])
    await qualification.hold(actor, tenant["id"], [prelead])
    captured = await qualification.capture(actor, tenant["id"], prelead)

    result = await api.call(
        "POST",
        f"/v1/host/tenants/{tenant['id']}/credits/entries/{captured.entry_id}/reversal",
        host_key,
        {"reason": "Lead contestado"},
    )
    balance = await api.call("GET", "/v1/billing/balance", tenant["key"])

    assert result.status == 201
    assert result.data["amount"] == 1
    assert balance.data["balance"] == 3


async def test_host_routes_answer_404_for_an_unknown_tenant(
    api: ContractClient, host_key: str
) -> None:
    tenant_id = uuid.uuid4()

    credits = await api.call("GET", f"/v1/host/tenants/{tenant_id}/credits", host_key)
    ledger = await api.call("GET", f"/v1/host/tenants/{tenant_id}/credits/ledger", host_key)
    granted = await api.call(
        "POST", f"/v1/host/tenants/{tenant_id}/credits/grants", host_key, {"amount": 1}
    )

    assert problem(credits) == (404, "tenant_not_found", None)
    assert problem(ledger) == (404, "tenant_not_found", None)
    assert problem(granted) == (404, "tenant_not_found", None)
    assert credits.body["detail"] == f"Tenant não encontrado: '{tenant_id}'."


async def test_deleted_tenant_keeps_its_statement_but_gets_no_credits(
    api: ContractClient, host_key: str, database: str, tenant: dict[str, str]
) -> None:
    await grant(api, host_key, tenant["id"], 7)
    await owner_execute(
        database,
        "UPDATE tenant SET status = 'deleted', deleted_at = now() WHERE id = $1",
        uuid.UUID(tenant["id"]),
    )

    refused = await api.call(
        "POST", f"/v1/host/tenants/{tenant['id']}/credits/grants", host_key, {"amount": 1}
    )
    credits = await api.call("GET", f"/v1/host/tenants/{tenant['id']}/credits", host_key)

    assert problem(refused) == (409, "tenant_deleted", None)
    assert credits.data["balance"] == 7
    assert credits.data["tenant"]["status"] == "deleted"


async def test_tenant_key_cannot_use_host_credit_routes(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    result = await api.call(
        "POST", f"/v1/host/tenants/{tenant['id']}/credits/grants", tenant["key"], {"amount": 1}
    )

    assert problem(result) == (403, "host_only", None)


# --- statement filters ----------------------------------------------------------------------


async def test_ledger_filters_by_kind(
    api: ContractClient,
    app_container: Container,
    database: str,
    host_key: str,
    tenant: dict[str, str],
) -> None:
    await grant(api, host_key, tenant["id"], 10)
    preleads = await create_preleads(database, tenant["id"], 2)
    qualification = await provide(app_container.qualification_credits)
    actor = await user_actor(database, tenant["id"])
    await qualification.hold(actor, tenant["id"], preleads)
    await qualification.capture(actor, tenant["id"], preleads[0])

    captures = await api.call("GET", "/v1/billing/ledger?kind=capture", tenant["key"])
    comma = await api.call("GET", "/v1/billing/ledger?kind=grant,capture", tenant["key"])
    repeated = await api.call("GET", "/v1/billing/ledger?kind=grant&kind=hold", tenant["key"])
    everything = await api.call("GET", "/v1/billing/ledger?per_page=2", tenant["key"])

    assert [item["kind"] for item in captures.data] == ["capture"]
    assert sorted(item["kind"] for item in comma.data) == ["capture", "grant"]
    assert sorted(item["kind"] for item in repeated.data) == ["grant", "hold", "hold"]
    assert everything.body["meta"] == {
        "page": 1,
        "per_page": 2,
        "total_items": 4,
        "total_pages": 2,
    }
    # Newest first.
    assert [item["seq"] for item in everything.data] == [4, 3]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=refund", (400, "invalid_field", "kind")),
        ("since=ontem", (400, "invalid_field", "since")),
        ("until=2026-13-01", (400, "invalid_field", "until")),
        ("since=2026-11-01T10:00:00", (400, "invalid_field", "since")),
        ("since=2026-11-02&until=2026-11-01", (400, "invalid_period", "since")),
        ("format=xml", (400, "invalid_field", "format")),
        ("per_page=0", (400, "invalid_per_page", "per_page")),
    ],
)
async def test_ledger_rejects_bad_filters(
    api: ContractClient, tenant: dict[str, str], query: str, expected: tuple[int, str, str]
) -> None:
    result = await api.call("GET", f"/v1/billing/ledger?{query}", tenant["key"])

    assert problem(result) == expected


async def test_unknown_kind_lists_the_accepted_ones(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    result = await api.call("GET", "/v1/billing/ledger?kind=refund", tenant["key"])

    assert result.body["detail"].startswith("Tipo de lançamento desconhecido: 'refund'.")
    assert "grant, hold, capture" in result.body["detail"]


async def test_plain_dates_are_days_of_the_tenant_timezone(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    # 02:30 UTC on 5 November is 23:30 on 4 November in São Paulo.
    late_evening = dt.datetime(2026, 11, 5, 2, 30, tzinfo=dt.UTC)
    next_morning = dt.datetime(2026, 11, 5, 12, 0, tzinfo=dt.UTC)
    await insert_entries(
        database,
        tenant["id"],
        [
            {"kind": "grant", "amount": 10, "at": late_evening},
            {"kind": "grant", "amount": 5, "at": next_morning},
        ],
    )

    async def seqs(query: str) -> list[int]:
        result = await api.call("GET", f"/v1/billing/ledger?{query}", tenant["key"])
        return sorted(item["seq"] for item in result.data)

    assert await seqs("since=2026-11-04&until=2026-11-04") == [1]
    assert await seqs("since=2026-11-05&until=2026-11-05") == [2]
    assert await seqs("since=2026-11-05T02:00:00%2B00:00&until=2026-11-05T03:00:00Z") == [1]
    # A "+" that was not percent-encoded arrives as a space and is still understood.
    assert await seqs("since=2026-11-05T02:00:00+00:00") == [1, 2]

    await owner_execute(
        database,
        'UPDATE tenant SET settings = settings || \'{"timezone": "Asia/Tokyo"}\' WHERE id = $1',
        uuid.UUID(tenant["id"]),
    )
    assert await seqs("since=2026-11-05&until=2026-11-05") == [1, 2]


# --- CSV export --------------------------------------------------------------------------


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), body[:20]
    return list(csv.reader(io.StringIO(body.decode("utf-8")[1:], newline=""), delimiter=";"))


async def test_csv_export_end_to_end(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    await insert_entries(
        database,
        tenant["id"],
        [
            {
                "kind": "grant",
                "amount": 100,
                "at": dt.datetime(2026, 11, 3, 13, 5, 9, tzinfo=dt.UTC),
                "reason": 'Compra; pedido "14"',
            },
            {
                "kind": "adjustment",
                "amount": -3,
                "at": dt.datetime(2026, 11, 10, 2, 0, tzinfo=dt.UTC),
                "reason": "=SOMA(1;2)",
            },
            {
                "kind": "adjustment",
                "amount": 1,
                "at": dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC),
                "reason": "linha 1\nlinha 2",
                "label": "@operador",
            },
        ],
    )

    async with api.client.get(
        "/v1/billing/ledger?since=2026-11-01&until=2026-11-30",
        headers={"X-API-Key": tenant["key"], "Accept": "text/csv"},
    ) as response:
        body = await response.read()
        headers = response.headers
        status = response.status

    rows = parse_csv(body)
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        headers["Content-Disposition"]
        == 'attachment; filename="extrato-creditos-2026-11-01-2026-11-30.csv"'
    )
    assert "X-Request-ID" in headers
    assert rows[0][:5] == ["Data", "Hora", "Nº", "Tipo", "Créditos"]
    assert len(rows) == 4
    # Oldest first, days and hours in São Paulo time.
    assert [row[2] for row in rows[1:]] == ["1", "2", "3"]
    assert rows[1][:2] == ["03/11/2026", "10:05:09"]
    assert rows[2][:2] == ["09/11/2026", "23:00:00"]
    assert [row[3] for row in rows[1:]] == ["Concessão", "Ajuste", "Ajuste"]
    assert rows[2][4] == "-3"
    assert rows[1][10] == 'Compra; pedido "14"'
    assert rows[2][10] == "'=SOMA(1;2)"
    assert rows[3][10] == "linha 1\nlinha 2"
    assert rows[3][13] == "'@operador"


async def test_csv_by_format_parameter_and_filters(
    api: ContractClient, database: str, tenant: dict[str, str], host_key: str
) -> None:
    await insert_entries(
        database,
        tenant["id"],
        [
            {"kind": "grant", "amount": 10, "at": dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)},
            {
                "kind": "adjustment",
                "amount": 2,
                "at": dt.datetime(2026, 10, 2, 12, tzinfo=dt.UTC),
                "reason": "Bônus",
            },
        ],
    )

    async with api.client.get(
        f"/v1/host/tenants/{tenant['id']}/credits/ledger?format=csv&kind=adjustment",
        headers={"X-API-Key": host_key},
    ) as response:
        rows = parse_csv(await response.read())
        disposition = response.headers["Content-Disposition"]

    today = dt.datetime.now(SAO_PAULO).date().isoformat()
    assert disposition == f'attachment; filename="extrato-creditos-inicio-{today}.csv"'
    assert [row[3] for row in rows[1:]] == ["Ajuste"]


async def test_csv_of_an_empty_period_has_the_header_only(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    async with api.client.get(
        "/v1/billing/ledger?format=csv&since=2020-01-01&until=2020-01-31",
        headers={"X-API-Key": tenant["key"]},
    ) as response:
        rows = parse_csv(await response.read())

    assert len(rows) == 1


async def test_json_wins_when_preferred_in_accept(
    api: ContractClient, tenant: dict[str, str]
) -> None:
    async with api.client.get(
        "/v1/billing/ledger",
        headers={"X-API-Key": tenant["key"], "Accept": "application/json, text/csv;q=0.5"},
    ) as response:
        assert response.content_type == "application/json"


async def test_csv_export_streams_a_long_statement(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    start = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    await insert_entries(
        database,
        tenant["id"],
        [
            {"kind": "grant", "amount": 1, "at": start + dt.timedelta(minutes=index)}
            for index in range(1200)
        ],
    )

    async with api.client.get(
        "/v1/billing/ledger?format=csv", headers={"X-API-Key": tenant["key"]}
    ) as response:
        assert response.headers.get("Transfer-Encoding") == "chunked"
        rows = parse_csv(await response.read())

    assert len(rows) == 1201
    assert rows[-1][2] == "1200"
    assert rows[-1][7] == "1200"


# --- usage ---------------------------------------------------------------------------------


async def test_usage_per_day_and_per_user(
    api: ContractClient,
    app_container: Container,
    database: str,
    host_key: str,
    tenant: dict[str, str],
) -> None:
    await grant(api, host_key, tenant["id"], 20)
    alice = await user_actor(database, tenant["id"])
    bruno = await user_actor(database, tenant["id"])
    worker = SYSTEM_ACTOR
    preleads = await create_preleads(database, tenant["id"], 5)
    qualification = await provide(app_container.qualification_credits)

    await qualification.hold(alice, tenant["id"], preleads[:3])
    await qualification.hold(bruno, tenant["id"], preleads[3:])
    # The worker charges the leads; each charge counts for who started it.
    await qualification.capture(worker, tenant["id"], preleads[0])
    await qualification.capture(worker, tenant["id"], preleads[1])
    await qualification.capture(worker, tenant["id"], preleads[3])
    await qualification.release(worker, tenant["id"], preleads[2], reason=ReleaseReason.OPT_OUT)

    usage = await api.call("GET", "/v1/billing/usage", tenant["key"])

    today = dt.datetime.now(SAO_PAULO).date()
    by_day = usage.data["by_day"]
    assert len(by_day) == 30
    assert by_day[-1] == {"day": today.isoformat(), "captured": 3, "held": 5, "released": 1}
    assert by_day[0]["day"] == (today - dt.timedelta(days=29)).isoformat()
    assert {day["captured"] for day in by_day[:-1]} == {0}
    assert usage.data["timezone"] == "America/Sao_Paulo"
    assert usage.data["by_user"] == [
        {
            "actor": {"type": "account", "id": alice.id, "label": alice.label},
            "captured": 2,
            "held": 3,
        },
        {
            "actor": {"type": "account", "id": bruno.id, "label": bruno.label},
            "captured": 1,
            "held": 2,
        },
    ]

    host_view = await api.call("GET", f"/v1/host/tenants/{tenant['id']}/credits", host_key)
    assert host_view.data["balance"] == 17
    assert host_view.data["held"] == 1
    assert host_view.data["available"] == 16
    assert host_view.data["usage"]["by_day"][-1]["captured"] == 3

    tenant_usage = await api.call("GET", f"/v1/host/tenants/{tenant['id']}/usage", host_key)
    credits = tenant_usage.data["credits"]
    assert (credits["balance"], credits["held"], credits["available"]) == (17, 1, 16)
    assert credits["used_by_day"][-1] == {"date": today.isoformat(), "credits": 3}


async def test_usage_of_a_chosen_period(
    api: ContractClient, database: str, tenant: dict[str, str]
) -> None:
    result = await api.call(
        "GET", "/v1/billing/usage?since=2026-02-01&until=2026-02-28", tenant["key"]
    )
    too_long = await api.call(
        "GET", "/v1/billing/usage?since=2024-01-01&until=2026-01-01", tenant["key"]
    )

    assert len(result.data["by_day"]) == 28
    assert result.data["by_day"][0]["day"] == "2026-02-01"
    assert result.data["by_user"] == []
    assert problem(too_long) == (400, "invalid_period", "since")


# --- host overview -----------------------------------------------------------------------


async def overview_ids(api: ContractClient, host_key: str, query: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        result = await api.call(
            "GET", f"/v1/host/credits?per_page=200&page={page}&{query}", host_key
        )
        found.update({item["tenant"]["id"]: item for item in result.data})
        if page >= result.body["meta"]["total_pages"]:
            return found
        page += 1


async def test_host_overview_filters_below_threshold(
    api: ContractClient, host_key: str, database: str
) -> None:
    rich = await create_tenant(database, unique("Rico"))
    poor = await create_tenant(database, unique("Pobre"))
    await grant(api, host_key, rich, 100)
    await grant(api, host_key, poor, 4)

    everyone = await overview_ids(api, host_key, "")
    below = await overview_ids(api, host_key, "below_threshold=true")

    assert everyone[rich]["available"] == 100
    assert everyone[rich]["below_threshold"] is False
    assert everyone[poor]["below_threshold"] is True
    assert everyone[poor]["low_balance_threshold"] == 10
    assert poor in below
    assert rich not in below


async def test_host_overview_rejects_bad_flag(api: ContractClient, host_key: str) -> None:
    result = await api.call("GET", "/v1/host/credits?below_threshold=sim", host_key)

    assert problem(result) == (400, "invalid_field", "below_threshold")
