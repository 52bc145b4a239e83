"""Steps of reserva_de_creditos.feature: holds, captures and releases of a qualification.

The credit side of a qualification is driven through the same use case the
qualification engine calls (``QualificationCredits``), on the container of
the API under test; balances, the statement and the coverage question are
read through the HTTP API with the tenant's key, as a sales rep's screen
would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from application.credits import Credits, QualificationCredits
from domain.audit import Actor, ActorType
from domain.credits import HoldResult, InsufficientCredits, ReleaseReason
from entrypoints.container import provide
from tests.support.credits import create_preleads
from tests.support.identity import create_api_key, create_tenant

if TYPE_CHECKING:
    from conftest import GarimpoApi

scenarios("reserva_de_creditos.feature")

WORKER = Actor(type=ActorType.SYSTEM, label="qualificação")
HOST = Actor(type=ActorType.SYSTEM, label="host")

#: Outcomes named in the feature, as the classifier reports them.
OUTCOMES = {
    "sem interesse": ReleaseReason.NOT_INTERESTED,
    "número inválido": ReleaseReason.INVALID,
    "sem resposta": ReleaseReason.NO_ANSWER,
    "descadastro": ReleaseReason.OPT_OUT,
}


@attrs.define
class CreditScenario:
    tenant_id: str = ""
    key: str = ""
    preleads: list[str] = attrs.field(factory=list)
    refusal: InsufficientCredits | None = None
    hold: HoldResult | None = None
    coverage: dict[str, Any] = attrs.field(factory=dict)


@pytest.fixture
def scenario() -> CreditScenario:
    return CreditScenario()


def _qualification(api: GarimpoApi) -> QualificationCredits:
    use_case: QualificationCredits = api.run(provide(api.container.qualification_credits))
    return use_case


@given(parsers.parse("um tenant com {credits:d} créditos e {count:d} pré-leads selecionados"))
def tenant_with_credits(
    garimpo_api: GarimpoApi, scenario: CreditScenario, credits: int, count: int
) -> None:
    database_url = garimpo_api.container.database_url()

    async def prepare() -> None:
        scenario.tenant_id = await create_tenant(database_url, "Distribuidora Sertão")
        _key_id, scenario.key = await create_api_key(
            database_url, scenario.tenant_id, scopes=["billing:read", "preleads:read"]
        )
        scenario.preleads = await create_preleads(database_url, scenario.tenant_id, count)
        granting: Credits = await provide(garimpo_api.container.credits)
        await granting.grant(HOST, scenario.tenant_id, credits, reason="Pacote inicial")

    garimpo_api.run(prepare())


@when(parsers.parse("a qualificação começa para os {count:d} pré-leads"))
def start_qualification(garimpo_api: GarimpoApi, scenario: CreditScenario, count: int) -> None:
    qualification = _qualification(garimpo_api)
    try:
        scenario.hold = garimpo_api.run(
            qualification.hold(WORKER, scenario.tenant_id, scenario.preleads[:count])
        )
    except InsufficientCredits as refused:
        scenario.refusal = refused


@when(
    parsers.parse("a qualificação começa para os {count:d} pré-leads aceitando cobertura parcial")
)
def start_partial(garimpo_api: GarimpoApi, scenario: CreditScenario, count: int) -> None:
    qualification = _qualification(garimpo_api)
    scenario.hold = garimpo_api.run(
        qualification.hold(WORKER, scenario.tenant_id, scenario.preleads[:count], partial=True)
    )


@when(parsers.parse("o pré-lead {number:d} é classificado como qualificado"))
@when(parsers.parse("a mesma classificação do pré-lead {number:d} chega de novo"))
def classified_qualified(garimpo_api: GarimpoApi, scenario: CreditScenario, number: int) -> None:
    qualification = _qualification(garimpo_api)
    garimpo_api.run(
        qualification.capture(WORKER, scenario.tenant_id, scenario.preleads[number - 1])
    )


@when(parsers.parse('o pré-lead {number:d} termina como "{outcome}"'))
def ended_otherwise(
    garimpo_api: GarimpoApi, scenario: CreditScenario, number: int, outcome: str
) -> None:
    qualification = _qualification(garimpo_api)
    garimpo_api.run(
        qualification.release(
            WORKER, scenario.tenant_id, scenario.preleads[number - 1], reason=OUTCOMES[outcome]
        )
    )


@when(parsers.parse("a API é consultada sobre a cobertura de {count:d} pré-leads"))
def ask_coverage(garimpo_api: GarimpoApi, scenario: CreditScenario, count: int) -> None:
    response = garimpo_api.get(f"/v1/billing/coverage?preleads={count}", api_key=scenario.key)
    assert response.status == 200, response.body
    scenario.coverage = response.body["data"]


@then(parsers.parse("a API informa que o saldo cobre {covered:d} dos {requested:d} pré-leads"))
def coverage_answer(scenario: CreditScenario, covered: int, requested: int) -> None:
    assert scenario.coverage["requested"] == requested
    assert scenario.coverage["covered"] == covered


@then(parsers.parse('a qualificação é recusada com o código "{code}" e {available:d} disponíveis'))
def refused(scenario: CreditScenario, code: str, available: int) -> None:
    assert scenario.refusal is not None, "the qualification was not refused"
    assert scenario.refusal.code == code
    assert scenario.refusal.extensions["available"] == available
    assert "Saldo insuficiente" in scenario.refusal.detail


@then(parsers.parse("{held:d} pré-leads ficam com crédito reservado e {left_out:d} ficam de fora"))
def partial_result(scenario: CreditScenario, held: int, left_out: int) -> None:
    assert scenario.hold is not None
    assert len(scenario.hold.held) == held
    assert len(scenario.hold.not_covered) == left_out


@then(
    parsers.parse(
        "o saldo mostra {balance:d} créditos, {held:d} reservados e {available:d} disponíveis"
    )
)
def balance_shows(
    garimpo_api: GarimpoApi, scenario: CreditScenario, balance: int, held: int, available: int
) -> None:
    response = garimpo_api.get("/v1/billing/balance", api_key=scenario.key)
    assert response.status == 200, response.body
    body = response.body["data"]
    assert (body["balance"], body["held"], body["available"]) == (balance, held, available)


def _ledger(garimpo_api: GarimpoApi, scenario: CreditScenario, kind: str) -> list[dict[str, Any]]:
    response = garimpo_api.get(f"/v1/billing/ledger?kind={kind}", api_key=scenario.key)
    assert response.status == 200, response.body
    entries: list[dict[str, Any]] = response.body["data"]
    return entries


@then(parsers.parse("o extrato tem {count:d} débito, do pré-lead {number:d}"))
def one_capture(garimpo_api: GarimpoApi, scenario: CreditScenario, count: int, number: int) -> None:
    captures = _ledger(garimpo_api, scenario, "capture")
    assert len(captures) == count
    assert captures[0]["reference"]["id"] == scenario.preleads[number - 1]
    assert captures[0]["amount"] == -1


@then(parsers.parse("o extrato tem {count:d} liberações, dos pré-leads {numbers}"))
def releases(garimpo_api: GarimpoApi, scenario: CreditScenario, count: int, numbers: str) -> None:
    released = _ledger(garimpo_api, scenario, "release")
    expected = {
        scenario.preleads[int(number) - 1] for number in numbers.replace(" e ", ", ").split(", ")
    }
    assert len(released) == count
    assert {entry["reference"]["id"] for entry in released} == expected
    assert all(entry["amount"] == 0 and entry["held_change"] == -1 for entry in released)
