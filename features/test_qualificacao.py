"""Steps of qualificacao.feature: the channel walk, an opt-out reply, and the charge of a qualified lead.

The sandbox gateway records each send in its outbox, which the steps read to
see who got what on which channel. Replies come in through the API, as the
sandbox's users post them. The steps run the due steps the way an external
orchestrator does (list them, advance each), so no worker is needed; the
end of a reply wait is simulated by moving the flows' deadline to now.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import asyncpg
import attrs
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from adapters.sandbox.messaging import SandboxMessaging
from application.credits import Credits
from domain.audit import Actor, ActorType
from entrypoints.container import provide
from entrypoints.settings import Settings
from tests.support.companies import store_companies, valid_cnpj
from tests.support.identity import create_api_key, create_tenant, owner_execute

if TYPE_CHECKING:
    from conftest import ApiResponse, GarimpoApi

scenarios("qualificacao.feature")

HOST = Actor(type=ActorType.SYSTEM, label="host")
_PREFIX = f"8{secrets.randbelow(100_000):05d}"
#: The bakeries' mobiles, drawn once per test run, because the sandbox's list of
#: numbers without WhatsApp is read when it starts.
PHONES = {n: f"+55419{_PREFIX}{n:02d}" for n in (1, 2, 3)}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return attrs.evolve(settings, sandbox_no_whatsapp=(PHONES[2],))


@attrs.define
class Outreach:
    tenant_id: str = ""
    key: str = ""
    cnpjs: dict[int, str] = attrs.field(factory=dict)
    emails: dict[int, str] = attrs.field(factory=dict)
    job_id: str = ""
    selection: dict[str, Any] = attrs.field(factory=dict)
    confirmation_at: str = ""
    last: ApiResponse | None = None


@pytest.fixture
def outreach() -> Iterator[Outreach]:
    yield Outreach()


def _call(api: GarimpoApi, outreach: Outreach, method: str, path: str, body: Any = None) -> Any:
    response = api.request(method, path, headers={"X-API-Key": outreach.key}, body=body)
    outreach.last = response
    return response


def _outbox(api: GarimpoApi) -> list[dict[str, Any]]:
    settings = api.container.settings()
    return SandboxMessaging(settings.var_dir / "sandbox" / "messages.jsonl").sent()


def _sent_to(api: GarimpoApi, outreach: Outreach, bakery: int) -> list[dict[str, Any]]:
    addresses = {PHONES[bakery], outreach.emails[bakery]}
    return [record for record in _outbox(api) if record["to"] in addresses]


# --- context -----------------------------------------------------------------------


@given(parsers.parse('que a empresa "{name}" tem uma chave de API e {credits:d} créditos'))
def tenant_with_credits(
    garimpo_api: GarimpoApi, outreach: Outreach, name: str, credits: int
) -> None:
    database_url = garimpo_api.container.database_url()

    async def prepare() -> None:
        outreach.tenant_id = await create_tenant(database_url, f"{name} {uuid.uuid4().hex[:6]}")
        _key_id, outreach.key = await create_api_key(database_url, outreach.tenant_id)
        granting: Credits = await provide(garimpo_api.container.credits)
        await granting.grant(HOST, outreach.tenant_id, credits, reason="Pacote inicial")

    garimpo_api.run(prepare())


@given(
    parsers.parse(
        "que ela envia mensagens a qualquer hora e espera {minutes:d} minutos por uma resposta"
    )
)
def any_hour(garimpo_api: GarimpoApi, outreach: Outreach, minutes: int) -> None:
    response = _call(
        garimpo_api,
        outreach,
        "PATCH",
        "/v1/settings",
        {
            "quiet_hours": None,
            "qualification": {
                "sending_hours": {"start": "00:00", "end": "23:59"},
                "sending_weekdays": [1, 2, 3, 4, 5, 6, 7],
                "reply_wait_minutes": minutes,
            },
        },
    )
    assert response.status == 200, response.body


@given(parsers.parse("que a base conhece {count:d} padarias de Curitiba com celular e e-mail"))
def bakeries(garimpo_api: GarimpoApi, outreach: Outreach, count: int) -> None:
    block = uuid.uuid4().int % 90_000_000 // 100 * 100 + 1_000_000
    for n in range(1, count + 1):
        outreach.cnpjs[n] = valid_cnpj(block + n)
        outreach.emails[n] = f"compras{n}.{_PREFIX}@padaria{n}.com.br"
    garimpo_api.run(
        store_companies(
            garimpo_api.container.database_url(),
            [outreach.cnpjs[n] for n in range(1, count + 1)],
            phones=[[PHONES[n]] for n in range(1, count + 1)],
            emails=[outreach.emails[n] for n in range(1, count + 1)],
        )
    )


@given(parsers.parse("que o celular da padaria {bakery:d} não tem WhatsApp"))
def no_whatsapp(garimpo_api: GarimpoApi, bakery: int) -> None:
    assert PHONES[bakery] in garimpo_api.container.settings().sandbox_no_whatsapp


# --- actions -------------------------------------------------------------------------


def _start(garimpo_api: GarimpoApi, outreach: Outreach, bakeries: list[int]) -> None:
    created = _call(
        garimpo_api,
        outreach,
        "POST",
        "/v1/preleads/selections",
        {"cnpjs": [outreach.cnpjs[n] for n in bakeries]},
    )
    assert created.status == 201, created.body
    outreach.selection = created.body["data"]
    started = _call(
        garimpo_api, outreach, "POST", f"/v1/preleads/selections/{outreach.selection['id']}/qualify"
    )
    assert started.status == 202, started.body
    outreach.job_id = started.body["data"]["id"]


@when("seleciono as 3 padarias e começo a qualificação")
def start_all(garimpo_api: GarimpoApi, outreach: Outreach) -> None:
    _start(garimpo_api, outreach, [1, 2, 3])


@when(parsers.parse("seleciono a padaria {bakery:d} e começo a qualificação"))
def start_one(garimpo_api: GarimpoApi, outreach: Outreach, bakery: int) -> None:
    _start(garimpo_api, outreach, [bakery])


@when(parsers.parse("seleciono as padarias {first:d} e {second:d} e começo a qualificação"))
def start_two(garimpo_api: GarimpoApi, outreach: Outreach, first: int, second: int) -> None:
    _start(garimpo_api, outreach, [first, second])


@when("o Garimpo executa os passos vencidos")
def run_due_steps(garimpo_api: GarimpoApi, outreach: Outreach) -> None:
    # A step may make the next one due at once (a refused WhatsApp goes to
    # SMS), so the list is read again until it is empty.
    for _round in range(10):
        due = _call(garimpo_api, outreach, "GET", "/v1/qualification/due")
        assert due.status == 200, due.body
        if not due.body["data"]:
            return
        for step in due.body["data"]:
            advanced = _call(
                garimpo_api, outreach, "POST", f"/v1/qualification/flows/{step['flow_id']}/advance"
            )
            assert advanced.status in (200, 409), advanced.body
    raise AssertionError("the due steps never ran out")


@when("o prazo de resposta acaba e o Garimpo executa os passos vencidos")
def wait_over(garimpo_api: GarimpoApi, outreach: Outreach) -> None:
    garimpo_api.run(
        owner_execute(
            garimpo_api.container.database_url(),
            "UPDATE qualification_flow SET next_action_at = now() "
            "WHERE tenant_id = $1 AND state = 'awaiting_reply'",
            uuid.UUID(outreach.tenant_id),
        )
    )
    run_due_steps(garimpo_api, outreach)


@when(parsers.parse('a padaria {bakery:d} responde "{text}" por "{channel}"'))
def reply(
    garimpo_api: GarimpoApi, outreach: Outreach, bakery: int, text: str, channel: str
) -> None:
    sender = outreach.emails[bakery] if channel == "email" else PHONES[bakery]
    answer = _call(
        garimpo_api,
        outreach,
        "POST",
        "/v1/qualification/replies",
        {"channel": channel, "from": sender, "body": text},
    )
    assert answer.status == 202, answer.body
    assert answer.body["data"]["matched"] is True


@when(parsers.parse("seleciono a padaria {bakery:d} de novo"))
def select_again(garimpo_api: GarimpoApi, outreach: Outreach, bakery: int) -> None:
    created = _call(
        garimpo_api,
        outreach,
        "POST",
        "/v1/preleads/selections",
        {"cnpjs": [outreach.cnpjs[bakery]]},
    )
    assert created.status == 201, created.body
    outreach.selection = created.body["data"]


# --- outcomes --------------------------------------------------------------------------


@then(parsers.parse("{count:d} créditos ficam reservados"))
def held(garimpo_api: GarimpoApi, outreach: Outreach, count: int) -> None:
    balance = _call(garimpo_api, outreach, "GET", "/v1/billing/balance")
    assert balance.body["data"]["held"] == count, balance.body


@then(parsers.parse('a padaria {bakery:d} recebeu {count:d} mensagem por "{channel}"'))
def received(
    garimpo_api: GarimpoApi, outreach: Outreach, bakery: int, count: int, channel: str
) -> None:
    on_channel = [r for r in _sent_to(garimpo_api, outreach, bakery) if r["channel"] == channel]
    assert len(on_channel) == count, _sent_to(garimpo_api, outreach, bakery)
    if channel == "email":
        assert "/v1/unsubscribe/" in on_channel[0]["variables"]["unsubscribe_url"]


def _outcomes(garimpo_api: GarimpoApi, outreach: Outreach) -> dict[str, str | None]:
    async def read() -> dict[str, str | None]:
        conn = await asyncpg.connect(garimpo_api.container.database_url())
        try:
            rows = await conn.fetch(
                "SELECT p.cnpj, f.outcome FROM qualification_flow f "
                "JOIN prelead p ON p.id = f.prelead_id WHERE f.job_id = $1",
                uuid.UUID(outreach.job_id),
            )
        finally:
            await conn.close()
        return {row["cnpj"]: row["outcome"] for row in rows}

    return garimpo_api.run(read())


@then(
    parsers.parse(
        'a qualificação termina com a padaria 1 "{first}", a padaria 2 "{second}" '
        'e a padaria 3 "{third}"'
    )
)
def three_outcomes(
    garimpo_api: GarimpoApi, outreach: Outreach, first: str, second: str, third: str
) -> None:
    assert _outcomes(garimpo_api, outreach) == {
        outreach.cnpjs[1]: first,
        outreach.cnpjs[2]: second,
        outreach.cnpjs[3]: third,
    }
    job = _call(garimpo_api, outreach, "GET", f"/v1/jobs/{outreach.job_id}")
    assert job.body["data"]["state"] == "finished"


@then(parsers.re(r'a qualificação termina com a padaria (?P<bakery>\d+) "(?P<outcome>[a-z_]+)"$'))
def one_outcome(garimpo_api: GarimpoApi, outreach: Outreach, bakery: str, outcome: str) -> None:
    assert _outcomes(garimpo_api, outreach) == {outreach.cnpjs[int(bakery)]: outcome}


@then(parsers.parse("o saldo fica em {balance:d} créditos, sem nenhuma reserva"))
def balance_without_hold(garimpo_api: GarimpoApi, outreach: Outreach, balance: int) -> None:
    response = _call(garimpo_api, outreach, "GET", "/v1/billing/balance")
    assert (response.body["data"]["balance"], response.body["data"]["held"]) == (balance, 0)


@then(parsers.parse("o saldo fica em {balance:d} créditos, com {count:d} reservado"))
def balance_with_hold(
    garimpo_api: GarimpoApi, outreach: Outreach, balance: int, count: int
) -> None:
    response = _call(garimpo_api, outreach, "GET", "/v1/billing/balance")
    assert (response.body["data"]["balance"], response.body["data"]["held"]) == (balance, count)


@then(parsers.parse("a padaria {bakery:d} recebeu uma confirmação de descadastro"))
def confirmation(garimpo_api: GarimpoApi, outreach: Outreach, bakery: int) -> None:
    sent = _sent_to(garimpo_api, outreach, bakery)
    confirmations = [r for r in sent if r["idempotency_key"].startswith("optout-confirmation:")]
    assert len(confirmations) == 1, sent
    assert "não receberá mais mensagens" in confirmations[0]["body"]
    outreach.confirmation_at = confirmations[0]["sent_at"]


@then(parsers.parse("a padaria {bakery:d} vem sinalizada como descadastrada"))
def flagged(outreach: Outreach, bakery: int) -> None:
    assert outreach.selection["flag_counts"] == {"opted_out": 1}


@then(parsers.parse('começar a qualificação é recusado com o erro {status:d} e o código "{code}"'))
def start_refused(garimpo_api: GarimpoApi, outreach: Outreach, status: int, code: str) -> None:
    refused = _call(
        garimpo_api, outreach, "POST", f"/v1/preleads/selections/{outreach.selection['id']}/qualify"
    )
    assert (refused.status, refused.body["code"]) == (status, code), refused.body


@then(parsers.parse("a padaria {bakery:d} não recebeu nenhuma mensagem depois da confirmação"))
def nothing_after(garimpo_api: GarimpoApi, outreach: Outreach, bakery: int) -> None:
    run_due_steps(garimpo_api, outreach)
    later = [
        r
        for r in _sent_to(garimpo_api, outreach, bakery)
        if r["sent_at"] > outreach.confirmation_at
    ]
    assert later == []


@then(
    parsers.parse('a padaria {bakery:d} vira lead na etapa "{stage}" com a classificação "{kind}"')
)
def became_lead(
    garimpo_api: GarimpoApi, outreach: Outreach, bakery: int, stage: str, kind: str
) -> None:
    leads = _call(garimpo_api, outreach, "GET", "/v1/leads")
    [lead] = leads.body["data"]
    assert lead["cnpj"] == outreach.cnpjs[bakery]
    assert lead["classification"] == kind
    pipelines = _call(garimpo_api, outreach, "GET", "/v1/pipelines")
    stages = {s["id"]: s["name"] for p in pipelines.body["data"] for s in p["stages"]}
    assert stages[lead["stage_id"]] == stage


@then(
    parsers.parse(
        "o extrato tem {captures:d} débito da padaria {bakery:d} e {releases:d} reserva liberada"
    )
)
def statement(
    garimpo_api: GarimpoApi, outreach: Outreach, captures: int, bakery: int, releases: int
) -> None:
    ledger = _call(garimpo_api, outreach, "GET", "/v1/billing/ledger?per_page=100")
    kinds = [entry["kind"] for entry in ledger.body["data"]]
    assert kinds.count("capture") == captures
    assert kinds.count("release") == releases
