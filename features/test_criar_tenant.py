"""Steps of criar_tenant.feature: the host operator's plans and tenants, over the real HTTP API.

The host key is made over the owner connection, because a fresh database
has no host admin yet. Every other step is an HTTP call. Plan codes and
tenant names carry a suffix unique to the scenario, because the test session
shares one database.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import attrs
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from entrypoints.http.auth import API_KEY_HEADER
from entrypoints.settings import Settings
from tests.support.identity import create_api_key, create_host_key

if TYPE_CHECKING:
    # features/ is not a package: pytest imports its conftest.py as ``conftest``.
    from conftest import ApiResponse, GarimpoApi

scenarios("criar_tenant.feature")


@attrs.define
class HostState:
    """What the steps of one scenario share."""

    suffix: str = attrs.field(factory=lambda: uuid.uuid4().hex[:8])
    host_key: str = ""
    #: Plan ids by the code the feature names.
    plans: dict[str, str] = attrs.field(factory=dict)
    #: Tenant ids by the name the feature gives.
    tenants: dict[str, str] = attrs.field(factory=dict)
    tenant_key: str = ""
    response: ApiResponse | None = None

    def last_response(self) -> ApiResponse:
        assert self.response is not None, "no request was made in this scenario"
        return self.response

    def name(self, name: str) -> str:
        """The stored name of a tenant the feature names."""
        return f"{name} {self.suffix}"


@pytest.fixture
def host_state() -> HostState:
    return HostState()


def call(
    garimpo_api: GarimpoApi, key: str, method: str, path: str, body: dict[str, Any] | None = None
) -> ApiResponse:
    return garimpo_api.request(method, path, headers={API_KEY_HEADER: key}, body=body)


def listed_tenants(garimpo_api: GarimpoApi, state: HostState, name: str) -> list[dict[str, Any]]:
    query = urlencode({"q": state.name(name)})
    response = call(garimpo_api, state.host_key, "GET", f"/v1/host/tenants?{query}")
    assert response.status == 200, response.body
    items: list[dict[str, Any]] = response.body["data"]
    return items


def tenant_settings(garimpo_api: GarimpoApi, state: HostState, name: str) -> dict[str, Any]:
    [tenant] = listed_tenants(garimpo_api, state, name)
    settings: dict[str, Any] = tenant["settings"]
    return settings


# --- steps -------------------------------------------------------------------------


@given("que sou o operador do host com uma chave de API do host")
def host_operator(garimpo_api: GarimpoApi, settings: Settings, host_state: HostState) -> None:
    assert settings.database_url
    host_state.host_key = garimpo_api.run(create_host_key(settings.database_url))


@given(
    parsers.parse(
        'que criei o plano "{code}" chamado "{name}" com {credits:d} créditos '
        "por {price:d} centavos"
    )
)
def plan_created(
    garimpo_api: GarimpoApi, host_state: HostState, code: str, name: str, credits: int, price: int
) -> None:
    body = {
        "code": f"{code}-{host_state.suffix}",
        "name": name,
        "monthly_credits": credits,
        "price_cents": price,
        "max_users": 10,
        "messages_per_day": 1000,
        "requests_per_minute": 600,
    }
    response = call(garimpo_api, host_state.host_key, "POST", "/v1/host/plans", body)
    assert response.status == 201, response.body
    host_state.plans[code] = response.body["data"]["id"]


@given(parsers.parse('que arquivei o plano "{code}"'))
def plan_archived(garimpo_api: GarimpoApi, host_state: HostState, code: str) -> None:
    response = call(
        garimpo_api, host_state.host_key, "DELETE", f"/v1/host/plans/{host_state.plans[code]}"
    )
    assert response.status == 200, response.body
    assert response.body["data"]["archived"] is True


@when(parsers.parse('crio o tenant "{name}" no plano "{code}"'))
def tenant_created(garimpo_api: GarimpoApi, host_state: HostState, name: str, code: str) -> None:
    body = {"name": host_state.name(name), "plan_id": host_state.plans[code]}
    response = call(garimpo_api, host_state.host_key, "POST", "/v1/host/tenants", body)
    host_state.response = response
    if response.status == 201:
        host_state.tenants[name] = response.body["data"]["id"]


@then(parsers.parse('a lista de tenants mostra "{name}" no plano "{plan_name}"'))
def tenant_listed(
    garimpo_api: GarimpoApi, host_state: HostState, name: str, plan_name: str
) -> None:
    [tenant] = listed_tenants(garimpo_api, host_state, name)
    assert tenant["id"] == host_state.tenants[name]
    assert tenant["status"] == "active"
    assert tenant["plan"]["name"] == plan_name


@then(parsers.parse('a lista de tenants não mostra "{name}"'))
def tenant_not_listed(garimpo_api: GarimpoApi, host_state: HostState, name: str) -> None:
    assert listed_tenants(garimpo_api, host_state, name) == []


@then(parsers.parse('o tenant "{name}" tem o fuso horário "{timezone}"'))
def tenant_timezone(
    garimpo_api: GarimpoApi, host_state: HostState, name: str, timezone: str
) -> None:
    assert tenant_settings(garimpo_api, host_state, name)["timezone"] == timezone


@then(parsers.parse('o tenant "{name}" tem o horário de silêncio das "{start}" às "{end}"'))
def tenant_quiet_hours(
    garimpo_api: GarimpoApi, host_state: HostState, name: str, start: str, end: str
) -> None:
    quiet_hours = tenant_settings(garimpo_api, host_state, name)["quiet_hours"]
    assert quiet_hours == {"start": start, "end": end}


@given(parsers.parse('que o tenant "{name}" tem uma chave de API'))
def tenant_key(
    garimpo_api: GarimpoApi, settings: Settings, host_state: HostState, name: str
) -> None:
    assert settings.database_url
    _key_id, key = garimpo_api.run(create_api_key(settings.database_url, host_state.tenants[name]))
    host_state.tenant_key = key
    response = call(garimpo_api, key, "GET", "/v1/settings")
    assert response.status == 200, response.body


@when(parsers.parse('suspendo o tenant "{name}" com o motivo "{reason}"'))
def tenant_suspended(
    garimpo_api: GarimpoApi, host_state: HostState, name: str, reason: str
) -> None:
    path = f"/v1/host/tenants/{host_state.tenants[name]}/suspend"
    response = call(garimpo_api, host_state.host_key, "POST", path, {"reason": reason})
    assert response.status == 200, response.body
    assert response.body["data"]["status"] == "suspended"


@when(parsers.parse('reativo o tenant "{name}"'))
def tenant_reactivated(garimpo_api: GarimpoApi, host_state: HostState, name: str) -> None:
    path = f"/v1/host/tenants/{host_state.tenants[name]}/reactivate"
    response = call(garimpo_api, host_state.host_key, "POST", path)
    assert response.status == 200, response.body
    assert response.body["data"]["status"] == "active"


@then(parsers.parse('a chave do tenant é recusada com o erro {status:d} e o código "{code}"'))
def tenant_key_refused(
    garimpo_api: GarimpoApi, host_state: HostState, status: int, code: str
) -> None:
    host_state.response = call(garimpo_api, host_state.tenant_key, "GET", "/v1/settings")
    error_received(host_state, status, code)


@then(parsers.parse('a criação é recusada com o erro {status:d} e o código "{code}"'))
def creation_refused(host_state: HostState, status: int, code: str) -> None:
    error_received(host_state, status, code)


def error_received(state: HostState, status: int, code: str) -> None:
    response = state.last_response()
    assert response.status == status, response.body
    assert response.content_type == "application/problem+json"
    assert response.body["code"] == code


@then(parsers.parse('o detalhe do erro diz "{text}"'))
def error_detail(host_state: HostState, text: str) -> None:
    assert text in host_state.last_response().body["detail"]


@then("a chave do tenant volta a funcionar")
def tenant_key_works(garimpo_api: GarimpoApi, host_state: HostState) -> None:
    response = call(garimpo_api, host_state.tenant_key, "GET", "/v1/settings")
    assert response.status == 200, response.body
    assert response.body["data"]["timezone"] == "America/Sao_Paulo"
