"""Low-balance alerts and tenant webhooks, end to end over HTTP.

The alert leaves through the sandbox e-mail outbox and a signed webhook to a
local aiohttp receiver on 127.0.0.1, which these tests verify on the raw
bytes it received. Private targets are allowed here only so that the
receiver on loopback can be reached.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web

from application.notifications import MAX_ATTEMPTS, NotificationDispatcher
from application.ports import EmailMessage
from application.webhooks import WebhookDeliveries
from domain.audit import SYSTEM_ACTOR
from domain.identity import Role
from domain.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from entrypoints import cli, maintenance
from entrypoints.container import Container, build_container, provide
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.api_client import ApiResult, ContractClient
from tests.support.credits import create_preleads
from tests.support.http_server import LocalHttpServer
from tests.support.identity import (
    access_claims,
    create_api_key,
    create_host_key,
    create_tenant,
    create_user_session,
    owner_execute,
)


def problem(result: ApiResult) -> tuple[int, str, str | None]:
    return result.status, result.body["code"], result.body.get("field")


@attrs.define
class Receiver:
    """Records each webhook POST with its raw body and responds with the next planned status."""

    server: LocalHttpServer
    path: str = "/garimpo"
    statuses: list[int] = attrs.field(factory=list)
    received: list[tuple[bytes, dict[str, str]]] = attrs.field(factory=list)

    @property
    def url(self) -> str:
        return self.server.url(self.path)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.read(), dict(request.headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")


@pytest.fixture
def alert_settings(settings: Settings) -> Settings:
    return attrs.evolve(settings, webhook_allow_private_targets=True, webhook_timeout_seconds=2.0)


@pytest.fixture
def app_container(alert_settings: Settings) -> Container:
    return build_container(alert_settings)


@pytest.fixture
async def api(aiohttp_client: Any, app_container: Container) -> ContractClient:
    return ContractClient(await aiohttp_client(build_app(app_container)))


@pytest.fixture
def database(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


@pytest.fixture
async def host_key(database: str) -> str:
    return await create_host_key(database)


@pytest.fixture
async def receiver(local_http_server: LocalHttpServer) -> Receiver:
    receiver = Receiver(local_http_server)
    local_http_server.route("POST", receiver.path, receiver.handle)
    return receiver


@pytest.fixture
async def world(database: str) -> dict[str, str]:
    """A tenant with a contact e-mail, an admin and a key with every tenant scope."""
    tenant_id = await create_tenant(database, f"Alerta {uuid.uuid4().hex[:8]}")
    contact = f"financeiro-{uuid.uuid4().hex[:8]}@exemplo.com.br"
    await owner_execute(
        database,
        "UPDATE tenant SET contact_email = $2 WHERE id = $1",
        uuid.UUID(tenant_id),
        contact,
    )
    _account, _session, admin_email = await create_user_session(database, tenant_id, Role.ADMIN)
    _key_id, key = await create_api_key(database, tenant_id)
    return {"id": tenant_id, "key": key, "contact": contact, "admin": admin_email}


async def register(api: ContractClient, key: str, url: str) -> dict[str, Any]:
    result = await api.call(
        "POST", "/v1/webhooks/endpoints", key, {"url": url, "events": ["credits.low"]}
    )
    assert result.status == 201, result.body
    endpoint: dict[str, Any] = result.data
    return endpoint


async def host_post(
    api: ContractClient, host_key: str, tenant_id: str, path: str, body: Any
) -> None:
    result = await api.call("POST", f"/v1/host/tenants/{tenant_id}/credits/{path}", host_key, body)
    assert result.status == 201, result.body


async def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


def alert_emails(settings: Settings) -> list[dict[str, Any]]:
    outbox: Path = settings.var_dir / "sandbox" / "outbox.jsonl"
    if not outbox.exists():
        return []
    lines = outbox.read_text(encoding="utf-8").splitlines()
    return [m for m in map(json.loads, lines) if m["purpose"] == "low_balance"]


async def deliveries_of(api: ContractClient, key: str, endpoint_id: str) -> list[dict[str, Any]]:
    result = await api.call("GET", f"/v1/webhooks/endpoints/{endpoint_id}/deliveries", key)
    deliveries: list[dict[str, Any]] = result.data
    return deliveries


async def deliveries_at(container: Container, moment: dt.datetime) -> WebhookDeliveries:
    """The delivery use case with its clock set to ``moment``, to reach a later retry."""
    uow = await provide(container.unit_of_work)
    transport = await provide(container.webhook_transport)
    return WebhookDeliveries(uow, transport, clock=lambda: moment)


# --- the alert --------------------------------------------------------------------------


async def test_alert_goes_out_once_per_crossing(
    api: ContractClient,
    alert_settings: Settings,
    host_key: str,
    receiver: Receiver,
    world: dict[str, str],
    app_container: Container,
) -> None:
    endpoint = await register(api, world["key"], receiver.url)
    tenant_id = world["id"]

    await host_post(api, host_key, tenant_id, "grants", {"amount": 15})
    await host_post(api, host_key, tenant_id, "adjustments", {"amount": -6, "reason": "Correção"})
    await wait_until(lambda: len(receiver.received) == 1 and len(alert_emails(alert_settings)) == 2)

    raw, headers = receiver.received[0]
    assert verify_signature(
        endpoint["secret"], headers[SIGNATURE_HEADER], raw, now=int(time.time())
    )
    assert not verify_signature("whsec_outro", headers[SIGNATURE_HEADER], raw, now=int(time.time()))
    event = json.loads(raw)
    assert headers[EVENT_TYPE_HEADER] == "credits.low"
    assert headers[EVENT_ID_HEADER] == event["id"]
    assert headers[SIGNATURE_HEADER].startswith(f"t={headers[TIMESTAMP_HEADER]},v1=")
    assert headers["Content-Type"] == "application/json"
    assert event["type"] == "credits.low"
    assert event["tenant_id"] == tenant_id
    assert event["data"]["available"] == 9
    assert event["data"]["threshold"] == 10

    emails = alert_emails(alert_settings)
    assert sorted(message["to"] for message in emails) == sorted([world["contact"], world["admin"]])
    assert emails[0]["subject"] == "Saldo de créditos baixo: 9 créditos disponíveis"
    assert "chegou a 9 créditos disponíveis" in emails[0]["text"]

    # Staying below the line sends no alert, even after a full dispatch.
    await host_post(api, host_key, tenant_id, "adjustments", {"amount": -1, "reason": "Correção"})
    dispatcher = await provide(app_container.notification_dispatcher)
    deliveries = await provide(app_container.webhook_deliveries)
    await dispatcher.dispatch_due(tenant_id=tenant_id)
    await deliveries.deliver_due(tenant_id=tenant_id)
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 1
    assert len(alert_emails(alert_settings)) == 2

    # Rising above the line and falling again is a new crossing.
    await host_post(api, host_key, tenant_id, "grants", {"amount": 10})
    await host_post(api, host_key, tenant_id, "adjustments", {"amount": -9, "reason": "Correção"})
    await wait_until(lambda: len(receiver.received) == 2 and len(alert_emails(alert_settings)) == 4)

    second = json.loads(receiver.received[1][0])
    assert second["id"] != event["id"]
    assert second["data"]["available"] == 9

    log = await deliveries_of(api, world["key"], endpoint["id"])
    assert [item["status"] for item in log] == ["delivered", "delivered"]
    assert [item["last_status_code"] for item in log] == [200, 200]
    assert log[0]["event_id"] == second["id"]
    assert log[0]["payload"] == second


async def test_redispatched_outbox_row_sends_nothing_twice(
    api: ContractClient,
    alert_settings: Settings,
    database: str,
    host_key: str,
    receiver: Receiver,
    world: dict[str, str],
    app_container: Container,
) -> None:
    endpoint = await register(api, world["key"], receiver.url)
    await host_post(api, host_key, world["id"], "grants", {"amount": 11})
    await host_post(api, host_key, world["id"], "adjustments", {"amount": -2, "reason": "Teste"})
    await wait_until(lambda: len(receiver.received) == 1 and len(alert_emails(alert_settings)) == 2)

    # As if the dispatcher had died after sending, before marking the row sent.
    await owner_execute(
        database,
        "UPDATE notification_outbox SET sent_at = NULL, next_attempt_at = now() "
        "WHERE tenant_id = $1",
        uuid.UUID(world["id"]),
    )
    dispatcher = await provide(app_container.notification_dispatcher)
    deliveries = await provide(app_container.webhook_deliveries)
    sent = await dispatcher.dispatch_due(tenant_id=world["id"])
    delivered = await deliveries.deliver_due(tenant_id=world["id"])

    assert sent == 1
    assert delivered == 0
    assert len(alert_emails(alert_settings)) == 2
    assert len(receiver.received) == 1
    assert len(await deliveries_of(api, world["key"], endpoint["id"])) == 1


async def test_failing_receiver_is_retried_then_delivered(
    api: ContractClient,
    host_key: str,
    receiver: Receiver,
    world: dict[str, str],
    app_container: Container,
) -> None:
    receiver.statuses = [500]
    endpoint = await register(api, world["key"], receiver.url)
    await host_post(api, host_key, world["id"], "grants", {"amount": 12})
    before = dt.datetime.now(dt.UTC)
    await host_post(api, host_key, world["id"], "adjustments", {"amount": -3, "reason": "Teste"})
    await wait_until(lambda: len(receiver.received) == 1)
    await asyncio.sleep(0.3)

    [pending] = await deliveries_of(api, world["key"], endpoint["id"])
    assert pending["status"] == "pending"
    assert pending["attempts"] == 1
    assert pending["last_status_code"] == 500
    assert pending["last_error"] == "O receptor respondeu HTTP 500."
    next_at = dt.datetime.fromisoformat(pending["next_attempt_at"])
    assert before + dt.timedelta(seconds=10) < next_at < before + dt.timedelta(seconds=45)

    # Not due yet: nothing is sent.
    deliveries = await provide(app_container.webhook_deliveries)
    assert await deliveries.deliver_due(tenant_id=world["id"]) == 0
    assert len(receiver.received) == 1

    later = await deliveries_at(app_container, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert await later.deliver_due(tenant_id=world["id"]) == 1

    [done] = await deliveries_of(api, world["key"], endpoint["id"])
    assert done["status"] == "delivered"
    assert done["attempts"] == 2
    assert done["last_status_code"] == 200
    assert done["last_error"] is None
    assert done["next_attempt_at"] is None
    first_headers, second_headers = receiver.received[0][1], receiver.received[1][1]
    assert first_headers[EVENT_ID_HEADER] == second_headers[EVENT_ID_HEADER]
    assert receiver.received[0][0] == receiver.received[1][0]


async def test_delivery_fails_after_window_then_redelivered(
    api: ContractClient,
    host_key: str,
    receiver: Receiver,
    world: dict[str, str],
    app_container: Container,
) -> None:
    receiver.statuses = [503, 503]
    endpoint = await register(api, world["key"], receiver.url)
    await host_post(api, host_key, world["id"], "grants", {"amount": 12})
    await host_post(api, host_key, world["id"], "adjustments", {"amount": -3, "reason": "Teste"})
    await wait_until(lambda: len(receiver.received) == 1)
    await asyncio.sleep(0.3)

    past_window = await deliveries_at(
        app_container, dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    )
    assert await past_window.deliver_due(tenant_id=world["id"]) == 0
    [failed] = await deliveries_of(api, world["key"], endpoint["id"])
    assert failed["status"] == "failed"
    assert failed["attempts"] == 2
    assert failed["next_attempt_at"] is None

    redelivered = await api.call(
        "POST", f"/v1/webhooks/deliveries/{failed['id']}/redeliver", world["key"]
    )

    assert redelivered.status == 200
    assert redelivered.data["status"] == "delivered"
    assert redelivered.data["attempts"] == 3
    assert redelivered.data["last_status_code"] == 200
    assert len(receiver.received) == 3
    assert receiver.received[2][1][EVENT_ID_HEADER] == failed["event_id"]


async def test_redeliver_unknown_or_other_tenants_delivery_is_404(
    api: ContractClient, world: dict[str, str], database: str
) -> None:
    unknown = await api.call(
        "POST", f"/v1/webhooks/deliveries/{uuid.uuid4()}/redeliver", world["key"]
    )
    malformed = await api.call("POST", "/v1/webhooks/deliveries/abc/redeliver", world["key"])

    assert problem(unknown) == (404, "not_found", None)
    assert unknown.body["detail"].startswith("Entrega de webhook não encontrada")
    assert problem(malformed) == (404, "not_found", None)


async def test_removed_endpoint_ends_its_pending_delivery_as_failed(
    api: ContractClient,
    database: str,
    host_key: str,
    receiver: Receiver,
    world: dict[str, str],
    app_container: Container,
) -> None:
    receiver.statuses = [500]
    endpoint = await register(api, world["key"], receiver.url)
    await host_post(api, host_key, world["id"], "grants", {"amount": 12})
    await host_post(api, host_key, world["id"], "adjustments", {"amount": -3, "reason": "Teste"})
    await wait_until(lambda: len(receiver.received) == 1)
    await asyncio.sleep(0.3)

    removed = await api.call("DELETE", f"/v1/webhooks/endpoints/{endpoint['id']}", world["key"])
    later = await deliveries_at(app_container, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    await later.deliver_due(tenant_id=world["id"])

    assert removed.status == 200
    assert removed.data["removed_at"] is not None
    assert len(receiver.received) == 1
    status = await owner_execute(
        database,
        "SELECT status || ': ' || last_error FROM webhook_delivery WHERE endpoint_id = $1",
        uuid.UUID(endpoint["id"]),
    )
    assert status == "failed: O endpoint foi removido antes da entrega."


async def test_maintenance_round_sends_alerts_queued_by_qualification(
    api: ContractClient,
    alert_settings: Settings,
    database: str,
    host_key: str,
    receiver: Receiver,
    world: dict[str, str],
    app_container: Container,
) -> None:
    await register(api, world["key"], receiver.url)
    await host_post(api, host_key, world["id"], "grants", {"amount": 11})
    preleads = await create_preleads(database, world["id"], 2)
    qualification = await provide(app_container.qualification_credits)
    # The first hold takes the available credits from 11 to 10, the threshold:
    # the hold itself crosses it, and only that entry alerts.
    await qualification.hold(SYSTEM_ACTOR, world["id"], preleads)

    counts = await maintenance.run_round(app_container)

    assert counts is not None
    assert counts["dispatch_notifications"] >= 1
    assert counts["deliver_webhooks"] >= 1
    assert len(receiver.received) == 1
    assert json.loads(receiver.received[0][0])["data"]["available"] == 10
    assert {m["to"] for m in alert_emails(alert_settings)} >= {world["contact"], world["admin"]}


def test_cli_maintenance_prints_the_counts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings.database_url and settings.redis_url
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("GARIMPO_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)

    code = cli.main(["maintenance"])

    output = capsys.readouterr().out
    names = [line.split(":")[0] for line in output.splitlines()]
    assert code == 0, output
    assert "dispatch_notifications" in names
    assert "deliver_webhooks" in names
    assert "release_expired_holds" in names


# --- endpoints -----------------------------------------------------------------------------


async def test_endpoint_lifecycle(
    api: ContractClient, world: dict[str, str], receiver: Receiver
) -> None:
    created = await api.call(
        "POST",
        "/v1/webhooks/endpoints",
        world["key"],
        {"url": receiver.url, "events": ["credits.low"], "description": "  CRM  "},
    )
    endpoint = created.data
    listed = await api.call("GET", "/v1/webhooks/endpoints", world["key"])
    fetched = await api.call("GET", f"/v1/webhooks/endpoints/{endpoint['id']}", world["key"])
    removed = await api.call("DELETE", f"/v1/webhooks/endpoints/{endpoint['id']}", world["key"])
    gone = await api.call("GET", f"/v1/webhooks/endpoints/{endpoint['id']}", world["key"])
    history = await api.call(
        "GET", f"/v1/webhooks/endpoints/{endpoint['id']}/deliveries", world["key"]
    )
    listed_after = await api.call("GET", "/v1/webhooks/endpoints", world["key"])

    assert created.status == 201
    assert endpoint["secret"].startswith("whsec_")
    assert len(endpoint["secret"]) > 40
    assert endpoint["description"] == "CRM"
    assert [item["id"] for item in listed.data] == [endpoint["id"]]
    assert "secret" not in listed.data[0]
    assert "secret" not in fetched.data
    assert fetched.data["events"] == ["credits.low"]
    assert removed.data["removed_at"] is not None
    assert problem(gone) == (404, "not_found", None)
    assert gone.body["detail"].startswith("Endpoint de webhook não encontrado")
    assert history.status == 200
    assert history.body["meta"]["total_items"] == 0
    assert listed_after.data == []


@pytest.mark.parametrize(
    ("body", "expected", "detail"),
    [
        (
            {"url": "http://crm.exemplo.com.br/hook", "events": ["credits.low"]},
            (400, "invalid_webhook_endpoint", "url"),
            "https://",
        ),
        (
            {"url": "https://169.254.169.254/latest", "events": ["credits.low"]},
            (400, "webhook_target_not_allowed", "url"),
            "metadados",
        ),
        (
            {"url": "https://crm.exemplo.com.br/hook", "events": ["lead.created"]},
            (400, "invalid_webhook_endpoint", "events"),
            "Tipo de evento desconhecido: 'lead.created'",
        ),
        (
            {"url": "https://crm.exemplo.com.br/hook", "events": []},
            (400, "invalid_webhook_endpoint", "events"),
            "ao menos um",
        ),
        (
            {"url": "https://crm.exemplo.com.br/hook"},
            (400, "invalid_webhook_endpoint", "events"),
            "lista",
        ),
        (
            {"url": "https://crm.exemplo.com.br/hook", "events": ["credits.low"], "secret": "x"},
            (400, "invalid_field", "secret"),
            "Campo desconhecido",
        ),
    ],
)
async def test_invalid_endpoints_are_400_in_portuguese(
    api: ContractClient,
    world: dict[str, str],
    body: dict[str, Any],
    expected: tuple[int, str, str],
    detail: str,
) -> None:
    result = await api.call("POST", "/v1/webhooks/endpoints", world["key"], body)

    assert problem(result) == expected
    assert detail in result.body["detail"]


async def test_private_targets_are_refused_without_the_setting(
    aiohttp_client: Any, settings: Settings, world: dict[str, str]
) -> None:
    assert not settings.webhook_allow_private_targets
    strict = ContractClient(await aiohttp_client(build_app(build_container(settings))))

    for url in ("https://127.0.0.1/hook", "https://10.0.0.5/hook", "https://localhost/hook"):
        result = await strict.call(
            "POST", "/v1/webhooks/endpoints", world["key"], {"url": url, "events": ["credits.low"]}
        )
        assert problem(result) == (400, "webhook_target_not_allowed", "url"), url


async def test_endpoint_limit_is_409(api: ContractClient, world: dict[str, str]) -> None:
    for index in range(10):
        await register(api, world["key"], f"https://crm.exemplo.com.br/hook/{index}")

    result = await api.call(
        "POST",
        "/v1/webhooks/endpoints",
        world["key"],
        {"url": "https://crm.exemplo.com.br/hook/extra", "events": ["credits.low"]},
    )

    assert problem(result) == (409, "webhook_endpoint_limit", None)


async def test_webhook_routes_need_the_webhooks_permission(
    api: ContractClient, app_container: Container, database: str, world: dict[str, str]
) -> None:
    account_id, session_id, email = await create_user_session(database, world["id"], Role.SALES)
    tokens = await provide(app_container.access_tokens)
    token = tokens.issue(access_claims(account_id, session_id, world["id"], Role.SALES, email))

    refused = await api.call(
        "GET", "/v1/webhooks/endpoints", None, headers={"Authorization": f"Bearer {token}"}
    )
    anonymous = await api.call("GET", "/v1/webhooks/endpoints", None)

    assert problem(refused) == (403, "forbidden", None)
    assert problem(anonymous) == (401, "authentication_required", None)


class RefusingMailer:
    """A mail server that rejects every message, as one does for a dead address."""

    def __init__(self) -> None:
        self.attempts = 0

    async def send(self, message: EmailMessage) -> None:
        self.attempts += 1
        raise ConnectionRefusedError("mail server refused the message")


async def test_alert_is_abandoned_after_the_last_attempt(
    api: ContractClient,
    alert_settings: Settings,
    database: str,
    host_key: str,
    world: dict[str, str],
    app_container: Container,
) -> None:
    await host_post(api, host_key, world["id"], "grants", {"amount": 11})
    await host_post(api, host_key, world["id"], "adjustments", {"amount": -2, "reason": "Teste"})
    await wait_until(lambda: len(alert_emails(alert_settings)) == 2)

    # The row back in the queue, nobody e-mailed yet, two attempts before the last.
    await owner_execute(
        database,
        "UPDATE notification_outbox SET sent_at = NULL, emailed = '{}', next_attempt_at = now(), "
        "attempts = $2 WHERE tenant_id = $1",
        uuid.UUID(world["id"]),
        MAX_ATTEMPTS - 2,
    )
    mailer = RefusingMailer()
    dispatcher = NotificationDispatcher(await provide(app_container.unit_of_work), mailer)

    # The second-to-last attempt reschedules; the last one gives up.
    first = await dispatcher.dispatch_due(tenant_id=world["id"])
    await owner_execute(
        database,
        "UPDATE notification_outbox SET next_attempt_at = now() WHERE tenant_id = $1",
        uuid.UUID(world["id"]),
    )
    second = await dispatcher.dispatch_due(tenant_id=world["id"])
    third = await dispatcher.dispatch_due(tenant_id=world["id"])

    assert (first, second, third) == (0, 0, 0)
    assert mailer.attempts == 2
    abandoned = await owner_execute(
        database,
        "SELECT abandoned_at IS NOT NULL AND last_error LIKE 'ConnectionRefusedError%' "
        "FROM notification_outbox WHERE tenant_id = $1",
        uuid.UUID(world["id"]),
    )
    assert abandoned is True
