"""The rules around each send: pause, cancel, the sending window, opt-outs, limits, replays.

Steps are run directly through the use case, the way the API's advance
route runs them, so each test decides when time passes. The gateway is the
sandbox, or the Meta fake where a webhook's wire format matters.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import attrs
import pytest

from adapters.sandbox.messaging import SandboxMessaging
from application.qualification import Qualification
from domain.audit import Actor, ActorType
from entrypoints.container import Container, build_container, provide
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.api_client import ContractClient
from tests.support.companies import store_companies, valid_cnpj
from tests.support.fake_meta import APP_SECRET, FakeMeta
from tests.support.identity import create_api_key, create_host_key, create_tenant, owner_execute
from tests.support.qualification import open_all_hours

HOST = Actor(type=ActorType.SYSTEM, label="teste")


@attrs.define
class Tenant:
    id: str
    key: str
    cnpjs: list[str]
    phones: list[str]
    emails: list[str]


@pytest.fixture
def meta_settings(settings: Settings) -> Settings:
    return attrs.evolve(settings, meta_app_secret=APP_SECRET, meta_verify_token="verificar")


@pytest.fixture
async def container(meta_settings: Settings) -> AsyncIterator[Container]:
    yield build_container(meta_settings)


@pytest.fixture
async def api(aiohttp_client: Any, container: Container) -> ContractClient:
    return ContractClient(await aiohttp_client(build_app(container)))


@pytest.fixture
async def qualification(api: ContractClient, container: Container) -> Qualification:
    engine: Qualification = await provide(container.qualification)
    return engine


async def make_tenant(
    database: str, count: int, *, credits: int = 20, container: Container, **settings: Any
) -> Tenant:
    tenant_id = await create_tenant(database, f"Regras {uuid.uuid4().hex[:6]}")
    _, key = await create_api_key(database, tenant_id)
    await open_all_hours(database, tenant_id, **settings)
    granting = await provide(container.credits)
    await granting.grant(HOST, tenant_id, credits)

    prefix = f"8{secrets.randbelow(100_000):05d}"
    block = uuid.uuid4().int % 90_000_000 // 100 * 100 + 1_000_000
    cnpjs = [valid_cnpj(block + n) for n in range(count)]
    phones = [f"+55419{prefix}{n:02d}" for n in range(count)]
    emails = [f"contato{n}.{prefix}@empresa.com.br" for n in range(count)]
    await store_companies(database, cnpjs, phones=[[p] for p in phones], emails=emails)
    return Tenant(tenant_id, key, cnpjs, phones, emails)


async def start(api: ContractClient, tenant: Tenant, cnpjs: list[str] | None = None) -> str:
    selection = await api.call(
        "POST", "/v1/preleads/selections", tenant.key, {"cnpjs": cnpjs or tenant.cnpjs}
    )
    started = await api.call(
        "POST", f"/v1/preleads/selections/{selection.data['id']}/qualify", tenant.key
    )
    assert started.status == 202, started.body
    return str(started.data["id"])


async def drive(qualification: Qualification, tenant: Tenant) -> None:
    """Run every due step, as workers would, until none is left."""
    from domain.search import PageRequest

    for _round in range(20):
        page = await qualification.due_steps(tenant.id, PageRequest(page=1, per_page=500))
        if not page.items:
            return
        for step in page.items:
            await qualification.advance(tenant.id, step.flow_id)
    raise AssertionError("steps kept coming due")


def outbox(settings: Settings) -> list[dict[str, Any]]:
    return SandboxMessaging(settings.var_dir / "sandbox" / "messages.jsonl").sent()


def sent_by(settings: Settings, tenant: Tenant) -> list[dict[str, Any]]:
    """The sandbox's records of ``tenant``'s sends, oldest first."""
    return [record for record in outbox(settings) if record["tenant_id"] == tenant.id]


async def time_until_next_step(database: str, job_id: str) -> dt.timedelta:
    [flow] = await rows(
        database,
        "SELECT next_action_at FROM qualification_flow WHERE job_id = $1",
        uuid.UUID(job_id),
    )
    return flow["next_action_at"] - dt.datetime.now(dt.UTC)


async def rows(database: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


@pytest.fixture
def database(meta_settings: Settings) -> str:
    assert meta_settings.database_url
    return meta_settings.database_url


# --- pause, resume, cancel --------------------------------------------------------------


async def test_paused_job_sends_nothing(
    api: ContractClient,
    qualification: Qualification,
    container: Container,
    database: str,
    meta_settings: Settings,
) -> None:
    tenant = await make_tenant(database, 3, container=container)
    job_id = await start(api, tenant)

    paused = await api.call("POST", f"/v1/jobs/{job_id}/pause", tenant.key)
    assert paused.data["state"] == "paused"
    await drive(qualification, tenant)
    assert sent_by(meta_settings, tenant) == []

    resumed = await api.call("POST", f"/v1/jobs/{job_id}/resume", tenant.key)
    assert resumed.data["state"] == "running"
    await drive(qualification, tenant)
    sent = sent_by(meta_settings, tenant)
    assert sorted(r["to"] for r in sent) == sorted(tenant.phones)

    again = await api.call("POST", f"/v1/jobs/{job_id}/resume", tenant.key)
    assert again.data["state"] == "running"


async def test_cancelling_releases_every_hold_and_frees_the_preleads(
    api: ContractClient,
    qualification: Qualification,
    container: Container,
    database: str,
    meta_settings: Settings,
) -> None:
    tenant = await make_tenant(database, 3, container=container, credits=5)
    job_id = await start(api, tenant)
    await drive(qualification, tenant)

    cancelled = await api.call("POST", f"/v1/jobs/{job_id}/cancel", tenant.key)
    assert cancelled.data["state"] == "cancelled"
    assert cancelled.data["progress"]["classified"] == {"cancelled": 3}
    balance = await (await provide(container.credits)).balance(tenant.id)
    assert (balance.balance, balance.held) == (5, 0)

    refused = await api.call("POST", f"/v1/jobs/{job_id}/pause", tenant.key)
    assert (refused.status, refused.body["code"]) == (409, "job_state_conflict")

    # The pre-leads can be qualified again, from WhatsApp: the new walk has keys of its own.
    assert await start(api, tenant) != job_id
    await drive(qualification, tenant)
    sent = sent_by(meta_settings, tenant)
    assert sorted(r["to"] for r in sent if r["channel"] == "whatsapp") == sorted(tenant.phones * 2)


async def test_starting_without_credits_for_everyone_holds_nothing(
    api: ContractClient, container: Container, database: str
) -> None:
    tenant = await make_tenant(database, 3, container=container, credits=2)
    selection = await api.call(
        "POST", "/v1/preleads/selections", tenant.key, {"cnpjs": tenant.cnpjs}
    )
    refused = await api.call(
        "POST", f"/v1/preleads/selections/{selection.data['id']}/qualify", tenant.key
    )
    assert (refused.status, refused.body["code"]) == (409, "insufficient_credits")
    jobs = await api.call("GET", "/v1/jobs", tenant.key)
    assert jobs.data == []
    balance = await (await provide(container.credits)).balance(tenant.id)
    assert balance.held == 0


# --- when and to whom a send may go -------------------------------------------------------


async def test_nothing_goes_out_outside_the_sending_window(
    api: ContractClient,
    qualification: Qualification,
    container: Container,
    database: str,
    meta_settings: Settings,
) -> None:
    # A window of one minute, eight hours from now in São Paulo, on every
    # day; seven hours when eight would put it across midnight.
    sao_paulo = dt.timezone(dt.timedelta(hours=-3))
    ahead = dt.timedelta(hours=8)
    if (dt.datetime.now(sao_paulo) + ahead).strftime("%H:%M") >= "23:58":
        ahead = dt.timedelta(hours=7)
    opening = dt.datetime.now(sao_paulo) + ahead
    hours = {
        "start": opening.strftime("%H:%M"),
        "end": (opening + dt.timedelta(minutes=1)).strftime("%H:%M"),
    }
    tenant = await make_tenant(database, 1, container=container, sending_hours=hours)
    job_id = await start(api, tenant)
    await drive(qualification, tenant)

    assert sent_by(meta_settings, tenant) == []
    waited = await time_until_next_step(database, job_id)
    assert ahead - dt.timedelta(minutes=2) < waited <= ahead


async def test_opt_out_after_start_stops_send(
    api: ContractClient,
    qualification: Qualification,
    container: Container,
    database: str,
    meta_settings: Settings,
) -> None:
    tenant = await make_tenant(database, 2, container=container, credits=5)
    job_id = await start(api, tenant)

    recorded = await api.call(
        "POST",
        "/v1/opt-outs",
        tenant.key,
        {"phone": f"({tenant.phones[0][3:5]}) {tenant.phones[0][5:]}"},
    )
    assert (recorded.status, recorded.data["added"]) == (201, True)
    await drive(qualification, tenant)

    sent = [r["to"] for r in outbox(meta_settings) if r["tenant_id"] == tenant.id]
    assert sent == [tenant.phones[1]]
    job = await api.call("GET", f"/v1/jobs/{job_id}", tenant.key)
    assert job.data["progress"]["classified"] == {"opt_out": 1}
    balance = await (await provide(container.credits)).balance(tenant.id)
    assert (balance.balance, balance.held) == (5, 1)

    twice = await api.call("POST", "/v1/opt-outs", tenant.key, {"phone": tenant.phones[0]})
    assert (twice.status, twice.data["added"]) == (200, False)


async def test_sender_pool_and_daily_limit_hold(
    api: ContractClient,
    qualification: Qualification,
    container: Container,
    database: str,
    meta_settings: Settings,
) -> None:
    tenant = await make_tenant(database, 7, container=container, daily_limit=5)
    senders = []
    for n in range(2):
        added = await api.call(
            "POST",
            "/v1/qualification/senders",
            tenant.key,
            {
                "channel": "whatsapp",
                "address": f"(41) 3{secrets.randbelow(1000):03d}-{n:04d}",
                "limit_per_period": 2,
                "period_seconds": 3600,
            },
        )
        assert added.status == 201, added.body
        senders.append(added.data["address"])
    taken = await api.call(
        "POST",
        "/v1/qualification/senders",
        tenant.key,
        {"channel": "whatsapp", "address": senders[0], "limit_per_period": 1},
    )
    assert (taken.status, taken.body["code"]) == (409, "sender_taken")

    await start(api, tenant)
    await drive(qualification, tenant)

    sent = sent_by(meta_settings, tenant)
    # Two senders of two messages an hour: four go out, spread across both.
    assert sorted(r["sender"] for r in sent) == sorted(senders * 2)
    waiting = await rows(
        database,
        "SELECT next_action_at FROM qualification_flow WHERE tenant_id = $1 AND state = 'sending'",
        uuid.UUID(tenant.id),
    )
    assert len(waiting) == 3
    assert all(row["next_action_at"] > dt.datetime.now(dt.UTC) for row in waiting)

    # Without the pool, the tenant's daily limit of five is what stops the sends.
    await owner_execute(
        database, "DELETE FROM sender_number WHERE tenant_id = $1", uuid.UUID(tenant.id)
    )
    await owner_execute(
        database,
        "UPDATE qualification_flow SET next_action_at = now() WHERE tenant_id = $1 AND state = 'sending'",
        uuid.UUID(tenant.id),
    )
    await drive(qualification, tenant)
    sent = sent_by(meta_settings, tenant)
    assert len(sent) == 5


# --- replies through Meta's webhook ---------------------------------------------------------


async def test_meta_reply_without_ninth_digit_counts_once(
    api: ContractClient,
    qualification: Qualification,
    container: Container,
    database: str,
) -> None:
    tenant = await make_tenant(database, 1, container=container, credits=3)
    job_id = await start(api, tenant)
    await drive(qualification, tenant)

    phone = tenant.phones[0]
    wa_id = "55" + phone[3:5] + phone[6:]
    assert len(wa_id) == 12
    async with FakeMeta() as meta:
        payload = meta.inbound_payload(wa_id, "Sim, tenho interesse! Meu e-mail é a@b.com.br")
        url = str(api.client.make_url("/v1/webhooks/whatsapp"))
        for _delivery in range(2):
            result = await meta.post_webhook(url, payload)
            assert result.status == 200, result.text

    inbound = await rows(
        database,
        "SELECT count(*) AS n FROM interaction WHERE tenant_id = $1 AND direction = 'inbound'",
        uuid.UUID(tenant.id),
    )
    assert inbound[0]["n"] == 1
    job = await api.call("GET", f"/v1/jobs/{job_id}", tenant.key)
    assert job.data["progress"]["classified"] == {"qualified": 1}
    captures = await rows(
        database,
        "SELECT count(*) AS n FROM credit_entry WHERE tenant_id = $1 AND kind = 'capture'",
        uuid.UUID(tenant.id),
    )
    assert captures[0]["n"] == 1


async def test_unknown_sender_reaches_the_host(api: ContractClient, database: str) -> None:
    async with FakeMeta() as meta:
        wa_id = f"55419{secrets.randbelow(10**8):08d}"
        payload = meta.inbound_payload(wa_id, "Quem é?")
        result = await meta.post_webhook(str(api.client.make_url("/v1/webhooks/whatsapp")), payload)
    assert result.status == 200
    message_id = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    kept = await rows(
        database,
        "SELECT provider, channel FROM unmatched_reply WHERE provider_message_id = $1",
        message_id,
    )
    assert [(row["provider"], row["channel"]) for row in kept] == [("meta", "whatsapp")]

    # It reached no tenant, so it is listed for the host.
    host_key = await create_host_key(database)
    listed = await api.call("GET", "/v1/host/qualification/unmatched?per_page=200", host_key)
    assert {"from": wa_id, "body": "Quem é?", "channel": "whatsapp"}.items() <= next(
        item for item in listed.data if item["from"] == wa_id
    ).items()


# --- e-mail unsubscribe link and the host's list ---------------------------------------------


async def test_unsubscribe_link_confirms_then_stops_email(
    api: ContractClient,
    qualification: Qualification,
    container: Container,
    database: str,
    meta_settings: Settings,
) -> None:
    tenant = await make_tenant(database, 1, container=container, credits=3)
    await owner_execute(
        database,
        "UPDATE external_company SET phones = '{}' WHERE cnpj = $1",
        tenant.cnpjs[0],
    )
    job_id = await start(api, tenant)
    await drive(qualification, tenant)
    [mail] = sent_by(meta_settings, tenant)
    link = mail["variables"]["unsubscribe_url"]
    path = link[link.index("/v1/unsubscribe/") :]

    # Opening the link, as a mail scanner would, changes nothing.
    page = await api.client.get(path)
    assert page.status == 200
    assert 'method="post"' in await page.text()
    job = await api.call("GET", f"/v1/jobs/{job_id}", tenant.key)
    assert job.data["progress"]["classified"] == {}

    # The button, or a mail client's one-click POST, confirms; a second one changes nothing.
    for _click in range(2):
        confirmed = await api.client.post(path, data=b"List-Unsubscribe=One-Click")
        assert confirmed.status == 200
        assert "Descadastro confirmado" in await confirmed.text()
    job = await api.call("GET", f"/v1/jobs/{job_id}", tenant.key)
    assert job.data["progress"]["classified"] == {"opt_out": 1}

    forged = await api.client.get(path[:-4] + "0000")
    assert forged.status == 404
    assert (await forged.json())["code"] == "unsubscribe_link_invalid"


async def test_host_opt_out_is_global(
    api: ContractClient, container: Container, database: str
) -> None:
    host_key = await create_host_key(database)
    recorded = await api.call(
        "POST", "/v1/host/opt-outs", host_key, {"email": "Fim@Empresa.com.br"}
    )
    assert recorded.status in (200, 201)
    tenant = await make_tenant(database, 1, container=container)
    await owner_execute(
        database,
        "UPDATE external_company SET email = 'fim@empresa.com.br', phones = '{}' WHERE cnpj = $1",
        tenant.cnpjs[0],
    )
    selection = await api.call(
        "POST", "/v1/preleads/selections", tenant.key, {"cnpjs": tenant.cnpjs}
    )
    assert selection.data["flag_counts"] == {"opted_out": 1}


async def test_quiet_hours_hold_inside_sending_hours(
    api: ContractClient,
    qualification: Qualification,
    container: Container,
    database: str,
    meta_settings: Settings,
) -> None:
    tenant = await make_tenant(database, 1, container=container)
    local = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=-3)))
    quiet = {
        "start": (local - dt.timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + dt.timedelta(hours=2)).strftime("%H:%M"),
    }
    changed = await api.call("PATCH", "/v1/settings", tenant.key, {"quiet_hours": quiet})
    assert changed.status == 200, changed.body
    job_id = await start(api, tenant)
    await drive(qualification, tenant)

    assert sent_by(meta_settings, tenant) == []
    waited = await time_until_next_step(database, job_id)
    assert dt.timedelta(hours=1, minutes=58) < waited <= dt.timedelta(hours=2)


async def test_unknown_number_reply_is_listed_for_tenant(
    api: ContractClient, container: Container, database: str
) -> None:
    tenant = await make_tenant(database, 1, container=container)
    answer = await api.call(
        "POST",
        "/v1/qualification/replies",
        tenant.key,
        {"channel": "sms", "from": "+5541912345678", "body": "Quem fala?", "message_id": "m1"},
    )
    assert answer.data["matched"] is False

    listed = await api.call("GET", "/v1/qualification/unmatched", tenant.key)
    assert [(item["from"], item["body"]) for item in listed.data] == [
        ("+5541912345678", "Quem fala?")
    ]
    again = await api.call(
        "POST",
        "/v1/qualification/replies",
        tenant.key,
        {"channel": "sms", "from": "+5541912345678", "body": "Quem fala?", "message_id": "m1"},
    )
    assert again.data["duplicate"] is True


async def test_reply_to_own_number_routes_to_tenant(
    api: ContractClient, container: Container, database: str
) -> None:
    tenant = await make_tenant(database, 1, container=container)
    phone_number_id = str(10**14 + secrets.randbelow(10**14))
    added = await api.call(
        "POST",
        "/v1/qualification/senders",
        tenant.key,
        {
            "channel": "whatsapp",
            "address": f"+55419{secrets.randbelow(10**8):08d}",
            "provider_ref": phone_number_id,
            "limit_per_period": 60,
        },
    )
    assert added.status == 201, added.body

    async with FakeMeta() as meta:
        payload = meta.inbound_payload(
            f"55419{secrets.randbelow(10**8):08d}",
            "Vi o anúncio de vocês",
            phone_number_id=phone_number_id,
        )
        result = await meta.post_webhook(str(api.client.make_url("/v1/webhooks/whatsapp")), payload)
    assert result.status == 200

    listed = await api.call("GET", "/v1/qualification/unmatched", tenant.key)
    assert [item["body"] for item in listed.data] == ["Vi o anúncio de vocês"]


async def test_partial_start_takes_covered_preleads(
    api: ContractClient, container: Container, database: str
) -> None:
    tenant = await make_tenant(database, 3, container=container, credits=2)
    selection = await api.call(
        "POST", "/v1/preleads/selections", tenant.key, {"cnpjs": tenant.cnpjs}
    )
    path = f"/v1/preleads/selections/{selection.data['id']}/qualify"

    refused = await api.call("POST", path, tenant.key)
    assert (refused.status, refused.body["code"]) == (409, "insufficient_credits")
    assert "partial=true" in refused.body["detail"]

    started = await api.call("POST", path, tenant.key, {"partial": True})
    assert started.status == 202, started.body
    assert started.data["total"] == 2
    items = await api.call(
        "GET", f"/v1/preleads/selections/{selection.data['id']}/items", tenant.key
    )
    assert [item["status"] for item in items.data] == ["qualifying", "qualifying", "selected"]


async def test_late_yes_after_no_answer_qualifies(
    api: ContractClient, qualification: Qualification, container: Container, database: str
) -> None:
    tenant = await make_tenant(database, 1, container=container, credits=3)
    job_id = await start(api, tenant)
    await drive(qualification, tenant)
    for _channel in range(3):
        await owner_execute(
            database,
            "UPDATE qualification_flow SET next_action_at = now() WHERE job_id = $1 "
            "AND state = 'awaiting_reply'",
            uuid.UUID(job_id),
        )
        await drive(qualification, tenant)
    job = await api.call("GET", f"/v1/jobs/{job_id}", tenant.key)
    assert job.data["progress"]["classified"] == {"no_answer": 1}

    late = await api.call(
        "POST",
        "/v1/qualification/replies",
        tenant.key,
        {
            "channel": "sms",
            "from": tenant.phones[0][3:],
            "body": "Desculpe a demora, tenho interesse",
        },
    )
    assert late.data["outcome"] == "qualified"
    leads = await api.call("GET", "/v1/leads", tenant.key)
    assert [lead["cnpj"] for lead in leads.data] == tenant.cnpjs
    balance = await (await provide(container.credits)).balance(tenant.id)
    assert (balance.balance, balance.held) == (2, 0)
