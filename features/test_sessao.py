"""Steps of sessao.feature: login, refresh, reuse detection, logout and the account lock over HTTP.

The company and its user are made over the owner connection, because the
invitation flow has tests of its own. Every other step is a call to the real API. The
e-mails the feature names get a suffix unique to the scenario, because the
test session shares one database, and the per-address login throttle gets a
Redis key prefix of its own, because every scenario logs in from 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from dependency_injector import providers
from pytest_bdd import given, parsers, scenarios, then, when

from adapters.redis.login_attempts import RedisLoginAttempts
from domain.accounts import BRASILIA
from domain.identity import Role
from entrypoints.settings import Settings
from tests.support.identity import create_account, create_tenant_with_plan

if TYPE_CHECKING:
    # features/ is not a package: pytest imports its conftest.py as ``conftest``.
    from conftest import ApiResponse, GarimpoApi

scenarios("sessao.feature")


@attrs.define
class SessionState:
    """What the steps of one scenario share: the tokens in hand and the last response."""

    suffix: str = attrs.field(factory=lambda: uuid.uuid4().hex[:8])
    #: Tenant names by the company the feature names.
    companies: dict[str, str] = attrs.field(factory=dict)
    #: Every session received, oldest first.
    sessions: list[dict[str, Any]] = attrs.field(factory=list)
    response: ApiResponse | None = None

    def email(self, email: str) -> str:
        """The stored e-mail of a user the feature names."""
        local, _, domain = email.partition("@")
        return f"{local}+{self.suffix}@{domain}"

    def last_response(self) -> ApiResponse:
        assert self.response is not None, "no request was made in this scenario"
        return self.response

    def last_session(self) -> dict[str, Any]:
        assert self.sessions, "no session was opened in this scenario"
        return self.sessions[-1]


@pytest.fixture
def session_state() -> SessionState:
    return SessionState()


@pytest.fixture
def api(garimpo_api: GarimpoApi) -> GarimpoApi:
    """The API, with a login throttle that no other scenario shares."""
    container = garimpo_api.container
    container.login_attempts.override(
        providers.Singleton(
            RedisLoginAttempts,
            container.redis,
            prefix=f"garimpo-test:{uuid.uuid4().hex}:login_failures:",
        )
    )
    return garimpo_api


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(api: GarimpoApi, state: SessionState, email: str, password: str) -> ApiResponse:
    response = api.request(
        "POST", "/v1/auth/login", body={"email": state.email(email), "password": password}
    )
    state.response = response
    if response.status == 200:
        state.sessions.append(response.body["data"])
    return response


def refresh(api: GarimpoApi, state: SessionState, refresh_token: str) -> ApiResponse:
    response = api.request("POST", "/v1/auth/refresh", body={"refresh_token": refresh_token})
    state.response = response
    if response.status == 200:
        state.sessions.append(response.body["data"])
    return response


def me(api: GarimpoApi, access_token: str) -> ApiResponse:
    return api.request("GET", "/v1/auth/me", headers=bearer(access_token))


def assert_problem(response: ApiResponse, status: int, code: str) -> None:
    assert response.status == status, response.body
    assert response.content_type == "application/problem+json"
    assert response.body["code"] == code


# --- steps -------------------------------------------------------------------------


@given(
    parsers.parse('que a empresa "{company}" tem a vendedora "{email}" com a senha "{password}"')
)
def company_with_user(
    api: GarimpoApi,
    settings: Settings,
    session_state: SessionState,
    company: str,
    email: str,
    password: str,
) -> None:
    assert settings.database_url
    name = f"{company} {session_state.suffix}"
    tenant_id = api.run(create_tenant_with_plan(settings.database_url, name))
    session_state.companies[company] = name
    api.run(
        create_account(
            settings.database_url,
            tenant_id,
            Role.SALES,
            password=password,
            email=session_state.email(email),
            name="Ana",
        )
    )


@when(parsers.parse('entro com o e-mail "{email}" e a senha "{password}"'))
def log_in(api: GarimpoApi, session_state: SessionState, email: str, password: str) -> None:
    login(api, session_state, email, password)


@given(parsers.parse('que entrei com o e-mail "{email}" e a senha "{password}"'))
def logged_in(api: GarimpoApi, session_state: SessionState, email: str, password: str) -> None:
    response = login(api, session_state, email, password)
    assert response.status == 200, response.body


@then(
    parsers.parse(
        "recebo um token de acesso válido por {minutes:d} minutos e um token de renovação"
    )
)
def tokens_received(session_state: SessionState, minutes: int) -> None:
    response = session_state.last_response()
    assert response.status == 200, response.body
    assert response.headers["Cache-Control"] == "no-store"
    session = response.body["data"]
    assert session["token_type"] == "Bearer"
    assert session["expires_in"] == minutes * 60
    assert session["access_token"].count(".") == 2
    assert session["refresh_token"]


@then(
    parsers.parse(
        'o token de acesso mostra a usuária "{email}" com o papel "{role}" na empresa "{company}"'
    )
)
def token_shows_user(
    api: GarimpoApi, session_state: SessionState, email: str, role: str, company: str
) -> None:
    response = me(api, session_state.last_session()["access_token"])
    assert response.status == 200, response.body
    user = response.body["data"]
    assert user["email"] == session_state.email(email)
    assert user["role"] == role
    assert user["tenant"]["name"] == session_state.companies[company]


@then(parsers.parse('o login é recusado com o erro {status:d} e o código "{code}"'))
def login_refused(session_state: SessionState, status: int, code: str) -> None:
    assert_problem(session_state.last_response(), status, code)


@when("renovo a sessão com o token de renovação")
def renew(api: GarimpoApi, session_state: SessionState) -> None:
    refresh(api, session_state, session_state.last_session()["refresh_token"])


@given("que renovei a sessão uma vez")
def renewed_once(api: GarimpoApi, session_state: SessionState) -> None:
    response = refresh(api, session_state, session_state.last_session()["refresh_token"])
    assert response.status == 200, response.body


@then("recebo um novo token de acesso e um novo token de renovação")
def new_tokens(session_state: SessionState) -> None:
    response = session_state.last_response()
    assert response.status == 200, response.body
    first, renewed = session_state.sessions[-2], session_state.sessions[-1]
    assert renewed["access_token"] != first["access_token"]
    assert renewed["refresh_token"] != first["refresh_token"]


@then("o novo token de acesso funciona na mesma sessão")
def new_token_works(api: GarimpoApi, session_state: SessionState) -> None:
    first, renewed = session_state.sessions[-2], session_state.sessions[-1]
    before = me(api, first["access_token"])
    after = me(api, renewed["access_token"])
    assert after.status == 200, after.body
    assert after.body["data"]["session_id"] == before.body["data"]["session_id"]


@when("renovo a sessão de novo com o primeiro token de renovação")
def renew_with_first(api: GarimpoApi, session_state: SessionState) -> None:
    refresh(api, session_state, session_state.sessions[0]["refresh_token"])


@then(parsers.parse('a renovação é recusada com o erro {status:d} e o código "{code}"'))
def renewal_refused(session_state: SessionState, status: int, code: str) -> None:
    assert_problem(session_state.last_response(), status, code)


@then(parsers.parse('o token de acesso renovado é recusado com o código "{code}"'))
def renewed_access_refused(api: GarimpoApi, session_state: SessionState, code: str) -> None:
    assert_problem(me(api, session_state.sessions[-1]["access_token"]), 401, code)


@then(parsers.parse('o token de renovação mais novo é recusado com o código "{code}"'))
def newest_refresh_refused(api: GarimpoApi, session_state: SessionState, code: str) -> None:
    newest = session_state.sessions[-1]["refresh_token"]
    assert_problem(refresh(api, session_state, newest), 401, code)


@then(parsers.parse('consigo entrar de novo com o e-mail "{email}" e a senha "{password}"'))
def log_in_again(api: GarimpoApi, session_state: SessionState, email: str, password: str) -> None:
    response = login(api, session_state, email, password)
    assert response.status == 200, response.body


@given("que o token de acesso funciona")
def access_works(api: GarimpoApi, session_state: SessionState) -> None:
    response = me(api, session_state.last_session()["access_token"])
    assert response.status == 200, response.body


@when("saio da sessão")
def log_out(api: GarimpoApi, session_state: SessionState) -> None:
    response = api.request(
        "POST", "/v1/auth/logout", headers=bearer(session_state.last_session()["access_token"])
    )
    assert response.status == 204, response.body


@then(parsers.parse('o token de acesso é recusado com o erro {status:d} e o código "{code}"'))
def access_refused(api: GarimpoApi, session_state: SessionState, status: int, code: str) -> None:
    assert_problem(me(api, session_state.last_session()["access_token"]), status, code)


@then(parsers.parse('o token de renovação é recusado com o código "{code}"'))
def refresh_refused(api: GarimpoApi, session_state: SessionState, code: str) -> None:
    token = session_state.last_session()["refresh_token"]
    assert_problem(refresh(api, session_state, token), 401, code)


@when(parsers.parse('erro a senha de "{email}" {times:d} vezes seguidas'))
def wrong_password_times(
    api: GarimpoApi, session_state: SessionState, email: str, times: int
) -> None:
    for attempt in range(times):
        response = login(api, session_state, email, f"senha errada {attempt}")
        assert response.status == 401, response.body


@when(parsers.parse('erro a senha de "{email}" mais uma vez'))
def wrong_password_once_more(api: GarimpoApi, session_state: SessionState, email: str) -> None:
    login(api, session_state, email, "mais uma senha errada")


@then("o detalhe do erro diz até que horas, no horário de Brasília, a conta fica bloqueada")
def unlock_time_in_brasilia(session_state: SessionState) -> None:
    body = session_state.last_response().body
    locked_until = dt.datetime.fromisoformat(body["locked_until"])
    assert f"até {locked_until.astimezone(BRASILIA):%H:%M}" in body["detail"]
    assert "(horário de Brasília)" in body["detail"]


@then(parsers.parse("a resposta pede para tentar de novo em no máximo {minutes:d} minutos"))
def retry_after_minutes(session_state: SessionState, minutes: int) -> None:
    response = session_state.last_response()
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= minutes * 60
    assert response.body["retry_after"] == retry_after
