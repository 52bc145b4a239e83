"""Steps of limite_de_requisicoes.feature, over the real HTTP API.

Each tenant gets a plan of its own and an API key holding every tenant scope,
written over the owner connection. The requests list the tenant's API keys,
a route that works on an empty registry.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import attrs
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.support.identity import create_api_key, create_tenant

if TYPE_CHECKING:
    # features/ is not a package: pytest imports its conftest.py as ``conftest``.
    from conftest import ApiResponse, GarimpoApi

scenarios("limite_de_requisicoes.feature")

KEYS_PATH = "/v1/api-keys"
#: Requests sent before giving up on a refusal; far above any plan the feature names.
MAX_ATTEMPTS = 500


@attrs.define
class LimitState:
    """The keys of the scenario's tenants, the requests served and the refusal."""

    keys: dict[str, str] = attrs.field(factory=dict)
    accepted: dict[str, int] = attrs.field(factory=dict)
    refusal: ApiResponse | None = None

    def last_refusal(self) -> ApiResponse:
        assert self.refusal is not None, "no request was refused in this scenario"
        return self.refusal


@pytest.fixture
def limit_state() -> LimitState:
    return LimitState()


@given(parsers.parse('que o tenant "{name}" está num plano de {rpm:d} requisições por minuto'))
def tenant_on_plan(garimpo_api: GarimpoApi, limit_state: LimitState, name: str, rpm: int) -> None:
    database_url = garimpo_api.container.database_url()

    async def create() -> str:
        tenant_id = await create_tenant(database_url, name, requests_per_minute=rpm)
        _key_id, key = await create_api_key(database_url, tenant_id)
        return key

    limit_state.keys[name] = garimpo_api.run(create())


@when(parsers.parse('o tenant "{name}" lista as suas chaves de API até ser recusado'))
def request_until_refused(garimpo_api: GarimpoApi, limit_state: LimitState, name: str) -> None:
    accepted = 0
    for _ in range(MAX_ATTEMPTS):
        response = garimpo_api.get(KEYS_PATH, api_key=limit_state.keys[name])
        if response.status != 200:
            limit_state.refusal = response
            break
        accepted += 1
    limit_state.accepted[name] = accepted
    assert limit_state.refusal is not None, f"{MAX_ATTEMPTS} requests and no refusal"


@when(parsers.parse('o tenant "{name}" espera os segundos de Retry-After'))
def wait_retry_after(limit_state: LimitState, name: str) -> None:
    # The API runs on the fixture's loop only while a step sends a request,
    # so a blocking sleep here holds nothing up.
    time.sleep(int(limit_state.last_refusal().headers["Retry-After"]))


@then(parsers.parse('ao menos {count:d} requisições do tenant "{name}" foram atendidas'))
def accepted_at_least(limit_state: LimitState, count: int, name: str) -> None:
    # Tokens trickle back while the requests go out, so a slow run gets a few more.
    assert limit_state.accepted[name] >= count


@then(parsers.parse('a recusa tem status {status:d} e o código "{code}"'))
def refusal_status(limit_state: LimitState, status: int, code: str) -> None:
    refusal = limit_state.last_refusal()
    assert refusal.status == status
    assert refusal.content_type == "application/problem+json"
    assert refusal.body["code"] == code
    assert "requisições por minuto" in refusal.body["detail"]


@then(parsers.parse("a recusa diz em Retry-After quantos segundos esperar, no máximo {maximum:d}"))
def refusal_retry_after(limit_state: LimitState, maximum: int) -> None:
    refusal = limit_state.last_refusal()
    retry_after = int(refusal.headers["Retry-After"])
    assert 1 <= retry_after <= maximum
    assert refusal.body["retry_after"] == retry_after
    assert f"Tente de novo em {retry_after} segundo" in refusal.body["detail"]


@then(
    parsers.parse(
        "a recusa traz RateLimit-Limit {limit:d}, RateLimit-Remaining {remaining:d} "
        'e RateLimit-Policy "{policy}"'
    )
)
def refusal_headers(limit_state: LimitState, limit: int, remaining: int, policy: str) -> None:
    headers = limit_state.last_refusal().headers
    assert int(headers["RateLimit-Limit"]) == limit
    assert int(headers["RateLimit-Remaining"]) == remaining
    assert int(headers["RateLimit-Reset"]) >= 1
    assert headers["RateLimit-Policy"] == policy


@then(
    parsers.parse(
        'o tenant "{name}" ainda lista as suas chaves de API, com {remaining:d} requisições restantes'
    )
)
def other_tenant_served(
    garimpo_api: GarimpoApi, limit_state: LimitState, name: str, remaining: int
) -> None:
    response = garimpo_api.get(KEYS_PATH, api_key=limit_state.keys[name])
    assert response.status == 200, response.body
    assert int(response.headers["RateLimit-Remaining"]) == remaining


@then(parsers.parse('o tenant "{name}" volta a listar as suas chaves de API'))
def served_again(garimpo_api: GarimpoApi, limit_state: LimitState, name: str) -> None:
    response = garimpo_api.get(KEYS_PATH, api_key=limit_state.keys[name])
    assert response.status == 200, response.body
    assert "data" in response.body
