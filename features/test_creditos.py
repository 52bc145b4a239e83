"""Steps of creditos.feature: a reversal by the host, and the low-balance alert.

The host key, the tenant's key and its admin are made over the owner
connection. Grants, adjustments, reversals, statements and webhook
registration go through the real HTTP API. Qualification has no HTTP route
yet, so the charged pre-lead is held and captured through the container's
``QualificationCredits``, as the qualification worker does. The webhook
receiver is a local aiohttp server on 127.0.0.1, so this module allows
private webhook targets.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from aiohttp import web
from pytest_bdd import given, parsers, scenarios, then, when

from domain.audit import SYSTEM_ACTOR
from domain.identity import Role
from domain.webhooks import EVENT_TYPE_HEADER, SIGNATURE_HEADER, verify_signature
from entrypoints.container import provide
from entrypoints.http.auth import API_KEY_HEADER
from entrypoints.settings import Settings
from tests.support.credits import create_preleads
from tests.support.http_server import LocalHttpServer
from tests.support.identity import (
    create_api_key,
    create_host_key,
    create_tenant,
    create_user_session,
    owner_execute,
)

if TYPE_CHECKING:
    # features/ is not a package: pytest imports its conftest.py as ``conftest``.
    from conftest import ApiResponse, GarimpoApi

scenarios("creditos.feature")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings, with webhooks allowed to reach the receiver on 127.0.0.1."""
    return attrs.evolve(settings, webhook_allow_private_targets=True)


@attrs.define
class CreditWorld:
    """What the steps of one scenario share."""

    suffix: str = attrs.field(factory=lambda: uuid.uuid4().hex[:8])
    host_key: str = ""
    tenant_id: str = ""
    tenant_key: str = ""
    capture_entry_id: str = ""
    webhook_secret: str = ""
    #: Addresses as the feature writes them, to the unique ones stored.
    addresses: dict[str, str] = attrs.field(factory=dict)
    received: list[tuple[bytes, dict[str, str]]] = attrs.field(factory=list)
    server: LocalHttpServer | None = None
    response: ApiResponse | None = None

    def address(self, written: str) -> str:
        """A unique address for one written in the feature: the session shares one database."""
        if written not in self.addresses:
            local, _, domain = written.partition("@")
            self.addresses[written] = f"{local}+{self.suffix}@{domain}"
        return self.addresses[written]


@pytest.fixture
def world(garimpo_api: GarimpoApi) -> Iterator[CreditWorld]:
    state = CreditWorld()
    yield state
    if state.server is not None:
        garimpo_api.run(state.server.__aexit__(None, None, None))


def database_url(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


def call(
    garimpo_api: GarimpoApi, key: str, method: str, path: str, body: dict[str, Any] | None = None
) -> ApiResponse:
    return garimpo_api.request(method, path, headers={API_KEY_HEADER: key}, body=body)


def alert_emails(settings: Settings) -> list[dict[str, Any]]:
    outbox = settings.var_dir / "sandbox" / "outbox.jsonl"
    if not outbox.exists():
        return []
    messages = map(json.loads, outbox.read_text(encoding="utf-8").splitlines())
    return [message for message in messages if message["purpose"] == "low_balance"]


def wait_until(garimpo_api: GarimpoApi, condition: Callable[[], bool]) -> None:
    """Run the API's loop, where the alert is sent in the background, until ``condition``."""

    async def wait() -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, "timed out waiting for the alert"
            await asyncio.sleep(0.05)

    garimpo_api.run(wait())


# --- context -------------------------------------------------------------------------


@given("que sou o operador do host com uma chave de API do host")
def host_operator(garimpo_api: GarimpoApi, settings: Settings, world: CreditWorld) -> None:
    world.host_key = garimpo_api.run(create_host_key(database_url(settings)))


@given(parsers.parse('que a empresa "{name}" tem uma chave de API e o e-mail de contato "{email}"'))
def tenant_with_key(
    garimpo_api: GarimpoApi, settings: Settings, world: CreditWorld, name: str, email: str
) -> None:
    database = database_url(settings)
    world.tenant_id = garimpo_api.run(create_tenant(database, f"{name} {world.suffix}"))
    garimpo_api.run(
        owner_execute(
            database,
            "UPDATE tenant SET contact_email = $2 WHERE id = $1",
            uuid.UUID(world.tenant_id),
            world.address(email),
        )
    )
    _key_id, world.tenant_key = garimpo_api.run(create_api_key(database, world.tenant_id))


@given(parsers.parse("que concedi {amount:d} créditos à empresa"))
def credits_granted(garimpo_api: GarimpoApi, world: CreditWorld, amount: int) -> None:
    path = f"/v1/host/tenants/{world.tenant_id}/credits/grants"
    response = call(garimpo_api, world.host_key, "POST", path, {"amount": amount})
    assert response.status == 201, response.body


# --- estorno ----------------------------------------------------------------------------


@given("que um pré-lead da empresa foi qualificado e o crédito dele foi debitado")
def prelead_charged(garimpo_api: GarimpoApi, settings: Settings, world: CreditWorld) -> None:
    async def qualify_and_charge() -> str:
        [prelead] = await create_preleads(database_url(settings), world.tenant_id, 1)
        qualification = await provide(garimpo_api.container.qualification_credits)
        await qualification.hold(SYSTEM_ACTOR, world.tenant_id, [prelead])
        captured = await qualification.capture(SYSTEM_ACTOR, world.tenant_id, prelead)
        assert captured.entry_id is not None
        return captured.entry_id

    world.capture_entry_id = garimpo_api.run(qualify_and_charge())
    balance = call(garimpo_api, world.tenant_key, "GET", "/v1/billing/balance")
    assert balance.body["data"]["balance"] == 19


def reverse_capture(garimpo_api: GarimpoApi, world: CreditWorld, reason: str) -> None:
    path = f"/v1/host/tenants/{world.tenant_id}/credits/entries/{world.capture_entry_id}/reversal"
    world.response = call(garimpo_api, world.host_key, "POST", path, {"reason": reason})


@when(parsers.parse('estorno o débito do pré-lead com o motivo "{reason}"'))
def capture_reversed(garimpo_api: GarimpoApi, world: CreditWorld, reason: str) -> None:
    reverse_capture(garimpo_api, world, reason)


@when("estorno o débito do pré-lead de novo")
def capture_reversed_again(garimpo_api: GarimpoApi, world: CreditWorld) -> None:
    reverse_capture(garimpo_api, world, "Segundo pedido de estorno")


@then(parsers.parse("o estorno devolve {amount:d} crédito"))
def reversal_posted(world: CreditWorld, amount: int) -> None:
    assert world.response is not None
    assert world.response.status == 201, world.response.body
    entry = world.response.body["data"]
    assert entry["kind"] == "reversal"
    assert entry["kind_label"] == "Estorno"
    assert entry["amount"] == amount


@then(parsers.parse("o saldo da empresa é de {amount:d} créditos"))
def balance_is(garimpo_api: GarimpoApi, world: CreditWorld, amount: int) -> None:
    response = call(garimpo_api, world.tenant_key, "GET", "/v1/billing/balance")
    assert response.status == 200, response.body
    assert response.body["data"]["balance"] == amount
    assert response.body["data"]["held"] == 0


@then("o extrato da empresa mostra o estorno apontando para o débito")
def statement_shows_reversal(garimpo_api: GarimpoApi, world: CreditWorld) -> None:
    response = call(garimpo_api, world.tenant_key, "GET", "/v1/billing/ledger?kind=reversal")
    [entry] = response.body["data"]
    assert entry["reverses_entry_id"] == world.capture_entry_id
    assert entry["reason"] == "Contato inválido"


@then(parsers.parse('o estorno é recusado com o erro {status:d} e o código "{code}"'))
def reversal_refused(world: CreditWorld, status: int, code: str) -> None:
    assert world.response is not None
    assert world.response.status == status, world.response.body
    assert world.response.content_type == "application/problem+json"
    assert world.response.body["code"] == code
    assert world.response.body["detail"] == "Este lançamento já foi estornado."


# --- alerta de saldo baixo --------------------------------------------------------------


@given(parsers.parse('que a empresa tem um administrador com o e-mail "{email}"'))
def tenant_admin(
    garimpo_api: GarimpoApi, settings: Settings, world: CreditWorld, email: str
) -> None:
    garimpo_api.run(
        create_user_session(
            database_url(settings), world.tenant_id, Role.ADMIN, email=world.address(email)
        )
    )


@given(parsers.parse('que a empresa cadastrou um webhook para o evento "{event}"'))
def webhook_registered(garimpo_api: GarimpoApi, world: CreditWorld, event: str) -> None:
    async def start_receiver() -> LocalHttpServer:
        async def receive(request: web.Request) -> web.Response:
            world.received.append((await request.read(), dict(request.headers)))
            return web.Response(status=200)

        server = LocalHttpServer()
        await server.__aenter__()
        server.route("POST", "/garimpo", receive)
        return server

    world.server = garimpo_api.run(start_receiver())
    body = {"url": world.server.url("/garimpo"), "events": [event]}
    response = call(garimpo_api, world.tenant_key, "POST", "/v1/webhooks/endpoints", body)
    assert response.status == 201, response.body
    world.webhook_secret = response.body["data"]["secret"]


@when(
    parsers.re(
        r'ajusto o saldo da empresa em (?P<amount>-?\d+) créditos? com o motivo "(?P<reason>[^"]+)"'
    ),
    converters={"amount": int},
)
def balance_adjusted(garimpo_api: GarimpoApi, world: CreditWorld, amount: int, reason: str) -> None:
    path = f"/v1/host/tenants/{world.tenant_id}/credits/adjustments"
    response = call(garimpo_api, world.host_key, "POST", path, {"amount": amount, "reason": reason})
    assert response.status == 201, response.body


@then(
    parsers.parse(
        'o webhook recebe um evento "{event}" com {available:d} créditos disponíveis, '
        "assinado com o segredo do endpoint"
    )
)
def webhook_received(
    garimpo_api: GarimpoApi, world: CreditWorld, event: str, available: int
) -> None:
    wait_until(garimpo_api, lambda: len(world.received) >= 1)

    [(raw, headers)] = world.received
    signature = headers[SIGNATURE_HEADER]
    assert verify_signature(world.webhook_secret, signature, raw, now=int(time.time()))
    assert headers[EVENT_TYPE_HEADER] == event
    payload = json.loads(raw)
    assert payload["type"] == event
    assert payload["data"]["available"] == available


@then(parsers.parse('"{email}" recebe o e-mail "{subject}"'))
def email_received(
    garimpo_api: GarimpoApi, settings: Settings, world: CreditWorld, email: str, subject: str
) -> None:
    address = world.address(email)
    wait_until(garimpo_api, lambda: any(m["to"] == address for m in alert_emails(settings)))

    [message] = [m for m in alert_emails(settings) if m["to"] == address]
    assert message["subject"] == subject


@then("nenhum alerta novo é enviado, porque o saldo já estava abaixo do limite")
def no_new_alert(garimpo_api: GarimpoApi, settings: Settings, world: CreditWorld) -> None:
    async def dispatch_everything() -> None:
        dispatcher = await provide(garimpo_api.container.notification_dispatcher)
        deliveries = await provide(garimpo_api.container.webhook_deliveries)
        await dispatcher.dispatch_due(tenant_id=world.tenant_id)
        await deliveries.deliver_due(tenant_id=world.tenant_id)
        await asyncio.sleep(0.3)

    garimpo_api.run(dispatch_everything())

    assert len(world.received) == 1
    assert len(alert_emails(settings)) == 2
