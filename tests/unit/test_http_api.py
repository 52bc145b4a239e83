"""HTTP API behaviour through the in-process aiohttp client, with fakes behind the use cases.

The real ``SearchPreLeads`` and ``GetCompany`` use cases run over a fake
``CompanyQueries``, so domain errors reach the HTTP layer the way they do in
production.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs
import pytest
import structlog
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from application.authentication import CredentialKind, Credentials, TenantState
from application.company_source import CompanySource
from application.external_companies import ExternalCompanyStore
from application.search import GetCompany, SearchPreLeads, SearchSource
from domain.audit import Actor
from domain.cnpj import Cnpj, check_digits
from domain.errors import AuthenticationFailed, PermissionDenied
from domain.identity import TENANT_PERMISSIONS, Principal, PrincipalKind
from domain.search import Page, PageRequest, PhoneRequirement, SearchCriteria
from domain.tenancy import TenantStatus
from entrypoints.http import routes_registry
from entrypoints.http.app import HttpServices, create_app

PROBLEM_CONTENT_TYPE = "application/problem+json"

API_KEY = "gar_7f3e9c01_tenant-a-test-key"
TENANT_ID = "5b0c6a52-8f0e-4a8e-9d7c-2f1e3a4b5c6d"

KNOWN_CNPJ = "11222333000181"
ALPHANUMERIC_CNPJ = "12ABC34501DE" + check_digits("12ABC34501DE")
UNKNOWN_CNPJ = "112223330002" + check_digits("112223330002")

GENERIC_500_DETAIL = (
    "Ocorreu um erro interno inesperado. Tente novamente em instantes; se o erro "
    "continuar, informe o request_id ao suporte."
)


# --- sample data, shaped like the read-side adapter's output ----------------


def make_search_item(cnpj_text: str) -> dict[str, Any]:
    """Build one search result as the read-side adapter returns it."""
    cnpj = Cnpj(cnpj_text)
    return {
        "cnpj": cnpj.value,
        "cnpj_formatted": cnpj.formatted(),
        "legal_name": "PADARIA EXEMPLO LTDA",
        "trade_name": None,
        "head_office": True,
        "registration_status": {"code": "02", "description": "ATIVA"},
        "opening_date": "2015-03-02",
        "cnae_primary": {"code": "1091102", "description": None},
        "cnaes_secondary": ["4721102"],
        "company_size": {"code": "01", "description": "MICRO EMPRESA"},
        "share_capital": "15000.00",
        "simples_opted": True,
        "mei_opted": None,
        "address": {
            "street_type": "RUA",
            "street": "DAS FLORES",
            "number": "100",
            "complement": None,
            "district": "CENTRO",
            "cep": "13010000",
            "uf": "SP",
            "municipality": {"ibge_code": "3509502", "tom_code": "6291", "name": "CAMPINAS"},
        },
        "phones": [
            {"number": "+5519987654321", "kind": "mobile", "shared": False},
            {"number": "1933334444", "kind": "invalid", "shared": False},
        ],
        "email": {"address": "contato@padaria.example", "valid": True, "shared": False},
    }


def make_company_detail(cnpj_text: str) -> dict[str, Any]:
    """Build one company detail as the read-side adapter returns it."""
    cnpj = Cnpj(cnpj_text)
    detail = make_search_item(cnpj_text)
    detail.update(
        {
            "status_date": "2015-03-02",
            "status_reason": {"code": "00", "description": None},
            "special_status": None,
            "special_status_date": None,
            "country": None,
            "foreign_city": None,
            "quality_flags": ["phone2_invalid"],
            "cnaes_secondary_descriptions": [
                {
                    "code": "4721102",
                    "description": "Padaria e confeitaria com predominância de revenda",
                }
            ],
            "company": {
                "cnpj_root": cnpj.root,
                "legal_name": "PADARIA EXEMPLO LTDA",
                "legal_name_had_cpf": False,
                "legal_nature": {"code": "2062", "description": "Sociedade Empresária Limitada"},
                "responsible_qualification": {"code": "49", "description": "Sócio-Administrador"},
                "share_capital": "15000.00",
                "company_size": {"code": "01", "description": "MICRO EMPRESA"},
                "federative_entity": None,
            },
            "partners": [
                {
                    "type": {"code": "2", "description": "PESSOA FÍSICA"},
                    "name": "MARIA EXEMPLO",
                    "document": "***123456**",
                    "qualification": {"code": "49", "description": "Sócio-Administrador"},
                    "entry_date": "2015-03-02",
                    "country": None,
                    "representative": None,
                    "age_range": {"code": "4", "description": "31 a 40 anos"},
                },
                {
                    "type": {"code": "2", "description": None},
                    "name": "JOAO EXEMPLO",
                    "document": "***654321**",
                    "qualification": None,
                    "entry_date": None,
                    "country": {"code": "105", "description": "BRASIL"},
                    "representative": {
                        "document": "***111222**",
                        "name": "ANA EXEMPLO",
                        "qualification": {"code": "14", "description": None},
                    },
                    "age_range": None,
                },
            ],
            "simples": {"opted": True, "since": "2015-03-02", "until": None},
            "mei": {"opted": False, "since": None, "until": None},
            "snapshot": {
                "run_id": "8d5a3f0e-2b1c-4d6e-9f8a-7b6c5d4e3f21",
                "reference": "2026-01",
                "loaded_at": "2026-01-20T03:15:00+00:00",
            },
        }
    )
    return detail


# --- fakes -----------------------------------------------------------------


class FakeCompanyQueries:
    """In-memory ``CompanyQueries`` that records the searches it receives."""

    def __init__(self, items: list[dict[str, Any]], establishments: dict[str, dict[str, Any]]):
        self.items = items
        self.establishments = establishments
        self.known_cnaes: set[str] | None = None
        self.searches: list[tuple[SearchCriteria, PageRequest, str | None]] = []
        self.error: Exception | None = None
        self.unknown_ibge_codes: set[str] = set()

    async def unknown_cnaes(self, codes: tuple[str, ...]) -> list[str]:
        if self.known_cnaes is None:
            return []
        return [code for code in codes if code not in self.known_cnaes]

    async def unknown_municipalities(self, codes: tuple[str, ...]) -> list[str]:
        return [code for code in codes if code in self.unknown_ibge_codes]

    async def search(
        self, criteria: SearchCriteria, page: PageRequest, tenant_id: str | None
    ) -> Page:
        if self.error is not None:
            raise self.error
        self.searches.append((criteria, page, tenant_id))
        selected = self.items[page.offset : page.offset + page.per_page]
        return Page(
            items=tuple(selected),
            page=page.page,
            per_page=page.per_page,
            total_items=len(self.items),
        )

    async def establishment(self, cnpj: Cnpj) -> dict[str, Any] | None:
        if self.error is not None:
            raise self.error
        return self.establishments.get(cnpj.value)


class FakeApiKeys:
    """API keys of the tests' tenants, each holding every tenant scope; revoked keys are absent."""

    def __init__(self, tenants_by_key: Mapping[str, str]):
        self.tenants_by_key = dict(tenants_by_key)

    async def authenticate(self, credentials: Credentials) -> tuple[Principal, TenantState | None]:
        tenant_id = self.tenants_by_key.get(credentials.value)
        if credentials.kind is not CredentialKind.API_KEY or tenant_id is None:
            raise AuthenticationFailed("A chave de API é inválida.", code="invalid_api_key")
        principal = Principal(
            kind=PrincipalKind.API_KEY,
            id="9d4f7c1e-0000-4000-8000-000000000001",
            tenant_id=tenant_id,
            scopes=TENANT_PERMISSIONS,
            label="chave de teste",
        )
        return principal, TenantState(
            status=TenantStatus.ACTIVE, reason=None, requests_per_minute=None
        )

    async def enter_tenant(self, principal: Principal, tenant_id: str, actor: Actor) -> TenantState:
        raise PermissionDenied("Só um administrador do host.", code="tenant_header_not_allowed")


class NoUseCases:
    """The routes these tests call need no use case beyond search and company detail."""

    async def get(self, name: str) -> Any:
        raise AssertionError(f"unexpected use case {name}")


class FakeReadiness:
    """Readiness checks whose components go down or hang on demand."""

    def __init__(self, names: tuple[str, ...] = ("database", "redis")):
        self.down: set[str] = set()
        self.hanging: set[str] = set()
        self.checks: dict[str, Callable[[], Awaitable[None]]] = {
            name: self._check_for(name) for name in names
        }

    def _check_for(self, name: str) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            if name in self.hanging:
                await asyncio.sleep(5)
            if name in self.down:
                raise ConnectionError(f"{name} refused the connection")

        return check


def make_queries() -> FakeCompanyQueries:
    items = [make_search_item(KNOWN_CNPJ), make_search_item(ALPHANUMERIC_CNPJ)]
    establishments = {
        KNOWN_CNPJ: make_company_detail(KNOWN_CNPJ),
        ALPHANUMERIC_CNPJ: make_company_detail(ALPHANUMERIC_CNPJ),
    }
    return FakeCompanyQueries(items, establishments)


def make_services(
    queries: FakeCompanyQueries,
    readiness: FakeReadiness,
    *,
    max_per_page: int = 100,
    company_source: CompanySource | None = None,
    external_store: ExternalCompanyStore | None = None,
) -> HttpServices:
    keys = FakeApiKeys({API_KEY: TENANT_ID})
    return HttpServices(
        search_preleads=SearchPreLeads(queries, company_source, external_store),
        get_company=GetCompany(queries, company_source, external_store),
        authenticate=keys.authenticate,
        enter_tenant=keys.enter_tenant,
        use_cases=NoUseCases(),
        readiness=readiness.checks,
        max_per_page=max_per_page,
    )


# --- fixtures and helpers --------------------------------------------------


@pytest.fixture
def queries() -> FakeCompanyQueries:
    return make_queries()


@pytest.fixture
def readiness() -> FakeReadiness:
    return FakeReadiness()


@pytest.fixture
async def client(
    aiohttp_client: Any, queries: FakeCompanyQueries, readiness: FakeReadiness
) -> TestClient:
    return await aiohttp_client(create_app(make_services(queries, readiness)))


AUTH = {"X-API-Key": API_KEY}


async def search(client: TestClient, body: Any) -> Any:
    return await client.post("/v1/preleads/search", json=body, headers=AUTH)


async def assert_problem(
    response: Any, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """Check a problem+json response and return its body."""
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM_CONTENT_TYPE
    body = await response.json(content_type=None)
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"urn:garimpo:problem:{code}"
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body.get("field") == field
    return body


# --- operational routes ----------------------------------------------------


async def test_health_answers_ok(client: TestClient) -> None:
    response = await client.get("/health")

    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readiness_all_components_ok(client: TestClient) -> None:
    response = await client.get("/ready")

    assert response.status == 200
    assert await response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok"},
    }


async def test_readiness_failing_component_is_503(
    client: TestClient, readiness: FakeReadiness
) -> None:
    readiness.down.add("redis")

    response = await client.get("/ready")

    body = await assert_problem(response, 503, "not_ready")
    assert body["checks"] == {"database": "ok", "redis": "failed"}
    assert "redis" in body["detail"]
    assert "database" not in body["detail"]


async def test_readiness_hanging_component_times_out(
    client: TestClient, readiness: FakeReadiness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_registry, "READINESS_TIMEOUT_SECONDS", 0.05)
    readiness.hanging.add("database")

    response = await client.get("/ready")

    body = await assert_problem(response, 503, "not_ready")
    assert body["checks"] == {"database": "timeout", "redis": "ok"}


def test_readiness_timeout_is_two_seconds() -> None:
    assert routes_registry.READINESS_TIMEOUT_SECONDS == 2.0


async def test_openapi_document_needs_no_key(client: TestClient) -> None:
    response = await client.get("/v1/openapi.json")

    assert response.status == 200
    document = await response.json()
    assert document["openapi"] == "3.1.0"


# --- search ----------------------------------------------------------------


async def test_search_answers_meta_and_data(
    client: TestClient, queries: FakeCompanyQueries
) -> None:
    response = await search(client, {"cnaes": ["1091-1/02"], "uf": "sp", "per_page": 1})

    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["meta"] == {
        "page": 1,
        "per_page": 1,
        "total_items": 2,
        "total_pages": 2,
        "source": "local",
        "warnings": [],
    }
    assert body["data"] == [make_search_item(KNOWN_CNPJ)]

    criteria, page, tenant_id = queries.searches[0]
    assert tenant_id == TENANT_ID
    assert criteria.cnaes == ("1091102",)
    assert criteria.uf == "SP"
    assert criteria.registration_statuses == ("02",)
    assert page == PageRequest(page=1, per_page=1)


async def test_search_translates_every_key(client: TestClient, queries: FakeCompanyQueries) -> None:
    body = {
        "cnaes": ["1091102", "4721102"],
        "include_secondary": True,
        "uf": "SP",
        "municipio_ibge": ["3509502"],
        "registration_status": ["ATIVA", "04"],
        "company_size": ["ME", "03"],
        "opened_from": "2010-01-01",
        "opened_to": "2020-12-31",
        "share_capital_min": 1000.5,
        "share_capital_max": "250000.00",
        "simples": True,
        "mei": False,
        "has_phone": "mobile",
        "has_email": True,
        "exclude_shared_contacts": True,
        "head_office_only": True,
        "exclude_existing": True,
        "page": 1,
        "per_page": 10,
    }

    response = await search(client, body)

    assert response.status == 200, await response.text()
    criteria, page, _ = queries.searches[0]
    assert criteria.cnaes == ("1091102", "4721102")
    assert criteria.include_secondary is True
    assert criteria.municipalities == ("3509502",)
    assert criteria.registration_statuses == ("02", "04")
    assert criteria.company_sizes == ("01", "03")
    assert criteria.opened_from == dt.date(2010, 1, 1)
    assert criteria.opened_to == dt.date(2020, 12, 31)
    assert criteria.share_capital_min == Decimal("1000.5")
    assert criteria.share_capital_max == Decimal("250000.00")
    assert criteria.simples is True
    assert criteria.mei is False
    assert criteria.phone is PhoneRequirement.MOBILE
    assert criteria.has_email is True
    assert criteria.exclude_shared_contacts is True
    assert criteria.head_office_only is True
    assert criteria.exclude_existing is True
    assert page == PageRequest(page=1, per_page=10)


async def test_search_null_means_not_informed(
    client: TestClient, queries: FakeCompanyQueries
) -> None:
    body = {
        "cnaes": ["1091102"],
        "uf": "SP",
        "include_secondary": None,
        "municipio_ibge": None,
        "registration_status": None,
        "simples": None,
        "has_phone": None,
        "page": None,
        "per_page": None,
    }

    response = await search(client, body)

    assert response.status == 200, await response.text()
    criteria, page, _ = queries.searches[0]
    assert criteria.include_secondary is False
    assert criteria.municipalities == ()
    assert criteria.registration_statuses == ("02",)
    assert criteria.simples is None
    assert criteria.phone is None
    assert page == PageRequest(page=1, per_page=50)


async def test_search_uf_from_municipalities(
    client: TestClient, queries: FakeCompanyQueries
) -> None:
    response = await search(client, {"cnaes": ["1091102"], "municipio_ibge": ["3550308"]})

    assert response.status == 200
    assert queries.searches[0][0].uf == "SP"


async def test_search_malformed_json(client: TestClient) -> None:
    response = await client.post(
        "/v1/preleads/search",
        data=b'{"cnaes": ["1091102"',
        headers={**AUTH, "Content-Type": "application/json"},
    )

    body = await assert_problem(response, 400, "invalid_json")
    assert "linha 1" in body["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b'"cnaes"',
        b'{"cnaes": ["1091102"], "share_capital_min": NaN}',
        b"\xff\xfe{}",
        b"[" * 100_000,
    ],
    ids=["empty", "array", "string", "nan", "not-utf8", "deeply-nested"],
)
async def test_search_unusable_body_is_invalid_json(client: TestClient, raw: bytes) -> None:
    response = await client.post(
        "/v1/preleads/search",
        data=raw,
        headers={**AUTH, "Content-Type": "application/json"},
    )

    await assert_problem(response, 400, "invalid_json")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cnaes", "1091102"),
        ("cnaes", [1091102]),
        ("include_secondary", "yes"),
        ("uf", 35),
        ("municipio_ibge", "3550308"),
        ("registration_status", [2]),
        ("company_size", "ME"),
        ("opened_from", "31/01/2020"),
        ("opened_to", 20200131),
        ("share_capital_min", "mil reais"),
        ("share_capital_max", "Infinity"),
        ("share_capital_min", True),
        ("simples", 1),
        ("mei", "false"),
        ("has_phone", "fax"),
        ("has_phone", True),
        ("has_email", "yes"),
        ("exclude_shared_contacts", 0),
        ("head_office_only", "true"),
        ("exclude_existing", []),
        ("page", "2"),
        ("page", True),
        ("per_page", 1.5),
    ],
)
async def test_search_wrong_type_names_field(client: TestClient, field: str, value: Any) -> None:
    body = {"cnaes": ["1091102"], "uf": "SP", field: value}

    response = await search(client, body)

    problem = await assert_problem(response, 400, "invalid_field", field=field)
    assert f"'{field}'" in problem["detail"]


async def test_search_overflowing_number_names_field(client: TestClient) -> None:
    # Python's json module reads 1e400 as float("inf"), which no amount of money is.
    response = await client.post(
        "/v1/preleads/search",
        data=b'{"cnaes": ["1091102"], "uf": "SP", "share_capital_max": 1e400}',
        headers={**AUTH, "Content-Type": "application/json"},
    )

    await assert_problem(response, 400, "invalid_field", field="share_capital_max")


async def test_search_missing_cnaes(client: TestClient) -> None:
    response = await search(client, {"uf": "SP"})

    problem = await assert_problem(response, 400, "invalid_field", field="cnaes")
    assert "obrigatório" in problem["detail"]


async def test_search_unknown_key(client: TestClient) -> None:
    response = await search(client, {"cnaes": ["1091102"], "uf": "SP", "municipio": ["3550308"]})

    problem = await assert_problem(response, 400, "invalid_field", field="municipio")
    assert "municipio_ibge" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"cnaes": []}, "missing_cnae", "cnaes"),
        ({"cnaes": ["62"], "uf": "SP"}, "invalid_cnae", "cnaes"),
        ({"cnaes": ["1091102"], "uf": "XX"}, "invalid_uf", "uf"),
        ({"cnaes": ["1091102"]}, "missing_uf", "uf"),
        ({"cnaes": ["1091102"], "uf": "RJ", "municipio_ibge": ["3550308"]},
         "municipality_outside_uf", "municipio_ibge"),
        ({"cnaes": ["1091102"], "uf": "SP", "registration_status": ["ABERTA"]},
         "invalid_registration_status", "registration_status"),
        ({"cnaes": ["1091102"], "uf": "SP", "share_capital_min": 10, "share_capital_max": 5},
         "invalid_range", "share_capital_min"),
        ({"cnaes": ["1091102"], "uf": "SP", "page": 0}, "invalid_page", "page"),
        ({"cnaes": ["1091102"], "uf": "SP", "per_page": 101}, "invalid_per_page", "per_page"),
    ],
)  # fmt: skip
async def test_search_rule_violation_is_400(
    client: TestClient, body: dict[str, Any], code: str, field: str
) -> None:
    response = await search(client, body)

    await assert_problem(response, 400, code, field=field)


async def test_search_unknown_cnae(client: TestClient, queries: FakeCompanyQueries) -> None:
    queries.known_cnaes = {"1091102"}

    response = await search(client, {"cnaes": ["1091102", "9999999"], "uf": "SP"})

    problem = await assert_problem(response, 400, "unknown_cnae", field="cnaes")
    assert "9999999" in problem["detail"]


async def test_search_page_out_of_range(client: TestClient) -> None:
    response = await search(client, {"cnaes": ["1091102"], "uf": "SP", "page": 3, "per_page": 1})

    problem = await assert_problem(response, 400, "page_out_of_range", field="page")
    assert "2 página(s)" in problem["detail"]


# --- authentication --------------------------------------------------------


async def test_missing_api_key_is_401(client: TestClient, queries: FakeCompanyQueries) -> None:
    response = await client.post("/v1/preleads/search", json={"cnaes": ["1091102"], "uf": "SP"})

    await assert_problem(response, 401, "authentication_required")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert queries.searches == []


async def test_invalid_api_key_is_401(client: TestClient, queries: FakeCompanyQueries) -> None:
    response = await client.get(
        f"/v1/companies/{KNOWN_CNPJ}", headers={"X-API-Key": "gk_revoked_key"}
    )

    await assert_problem(response, 401, "invalid_api_key")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_bearer_api_key_accepted(client: TestClient, queries: FakeCompanyQueries) -> None:
    response = await client.post(
        "/v1/preleads/search",
        json={"cnaes": ["1091102"], "uf": "SP"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )

    assert response.status == 200
    assert queries.searches[0][2] == TENANT_ID


async def test_basic_authorization_is_not_a_key(client: TestClient) -> None:
    response = await client.get(
        f"/v1/companies/{KNOWN_CNPJ}", headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )

    await assert_problem(response, 401, "authentication_required")


async def test_tenant_id_bound_while_handling(
    aiohttp_client: Any, queries: FakeCompanyQueries, readiness: FakeReadiness
) -> None:
    bound: list[dict[str, Any]] = []
    use_case = SearchPreLeads(queries)

    async def search_preleads(
        criteria: SearchCriteria, page: PageRequest, tenant_id: str | None, source: SearchSource
    ) -> Page:
        bound.append(structlog.contextvars.get_contextvars())
        return await use_case(criteria, page, tenant_id, source)

    services = attrs.evolve(make_services(queries, readiness), search_preleads=search_preleads)
    client = await aiohttp_client(create_app(services))

    response = await client.post(
        "/v1/preleads/search",
        json={"cnaes": ["1091102"], "uf": "SP"},
        headers={**AUTH, "X-Request-ID": "req-42"},
    )

    assert response.status == 200
    assert bound == [
        {
            "request_id": "req-42",
            "tenant_id": TENANT_ID,
            "principal_id": "9d4f7c1e-0000-4000-8000-000000000001",
        }
    ]


# --- companies -------------------------------------------------------------


async def test_company_answers_data(client: TestClient) -> None:
    response = await client.get(f"/v1/companies/{KNOWN_CNPJ}", headers=AUTH)

    assert response.status == 200
    assert await response.json() == {"data": {**make_company_detail(KNOWN_CNPJ), "source": "local"}}


async def test_company_formatted_cnpj_accepted(client: TestClient) -> None:
    response = await client.get("/v1/companies/12.abc.345%2F01de-35", headers=AUTH)

    assert response.status == 200
    body = await response.json()
    assert body["data"]["cnpj"] == ALPHANUMERIC_CNPJ


async def test_company_formatted_cnpj_with_slash(client: TestClient) -> None:
    response = await client.get("/v1/companies/12.ABC.345/01DE-35", headers=AUTH)

    assert response.status == 200
    body = await response.json()
    assert body["data"]["cnpj"] == ALPHANUMERIC_CNPJ


async def test_search_unknown_municipality(client: TestClient, queries: FakeCompanyQueries) -> None:
    queries.unknown_ibge_codes = {"3599999"}
    response = await client.post(
        "/v1/preleads/search",
        json={"cnaes": ["4781400"], "uf": "SP", "municipio_ibge": ["3599999"]},
        headers=AUTH,
    )

    problem = await assert_problem(response, 400, "unknown_municipality", field="municipio_ibge")
    assert "3599999" in problem["detail"]


async def test_company_invalid_cnpj(client: TestClient) -> None:
    response = await client.get("/v1/companies/11222333000182", headers=AUTH)

    problem = await assert_problem(response, 400, "invalid_cnpj", field="cnpj")
    assert "dígitos verificadores" in problem["detail"]


async def test_company_not_found(client: TestClient) -> None:
    response = await client.get(f"/v1/companies/{UNKNOWN_CNPJ}", headers=AUTH)

    await assert_problem(response, 404, "company_not_found", field="cnpj")


# --- routing errors and unexpected errors ----------------------------------


async def test_unknown_route(client: TestClient) -> None:
    response = await client.get("/v2/preleads", headers=AUTH)

    problem = await assert_problem(response, 404, "route_not_found")
    assert "/v2/preleads" in problem["detail"]


async def test_unknown_v1_route_is_404_without_key(client: TestClient) -> None:
    response = await client.get("/v1/nothing-here")

    await assert_problem(response, 404, "route_not_found")


async def test_method_not_allowed(client: TestClient) -> None:
    response = await client.get("/v1/preleads/search", headers=AUTH)

    problem = await assert_problem(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"
    assert "POST" in problem["detail"]


async def test_unexpected_error_is_generic_500(
    client: TestClient, queries: FakeCompanyQueries
) -> None:
    queries.error = RuntimeError("connection to db.internal failed: password=hunter2")

    with capture_logs() as logs:
        response = await search(client, {"cnaes": ["1091102"], "uf": "SP"})

    problem = await assert_problem(response, 500, "internal_error")
    assert problem["detail"] == GENERIC_500_DETAIL
    text = await response.text()
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert "Traceback" not in text

    errors = [entry for entry in logs if entry["event"] == "http_unhandled_error"]
    assert len(errors) == 1
    assert errors[0]["log_level"] == "error"
    assert errors[0]["exc_info"] is True


async def test_unexpected_error_in_company_route(
    client: TestClient, queries: FakeCompanyQueries
) -> None:
    queries.error = RuntimeError("boom")

    response = await client.get(f"/v1/companies/{KNOWN_CNPJ}", headers=AUTH)

    problem = await assert_problem(response, 500, "internal_error")
    assert problem["detail"] == GENERIC_500_DETAIL


async def test_body_too_large_is_413(client: TestClient) -> None:
    padding = "x" * (1024 * 1024 + 1)

    response = await search(client, {"cnaes": ["1091102"], "uf": "SP", "note": padding})

    await assert_problem(response, 413, "payload_too_large")


# --- request id and access log ---------------------------------------------


async def test_request_id_echoed(client: TestClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123.def_456"})

    assert response.headers["X-Request-ID"] == "abc-123.def_456"


@pytest.mark.parametrize(
    "incoming",
    [None, "", "has spaces", "x" * 129, "<script>", "-leading-dash"],
    ids=["absent", "empty", "spaces", "too-long", "markup", "leading-dash"],
)
async def test_request_id_generated(client: TestClient, incoming: str | None) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}

    response = await client.get("/health", headers=headers)

    request_id = response.headers["X-Request-ID"]
    assert request_id != incoming
    assert len(request_id) == 32
    assert all(char in "0123456789abcdef" for char in request_id)


async def test_request_ids_differ_between_requests(client: TestClient) -> None:
    first = await client.get("/health")
    second = await client.get("/health")

    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_problem_carries_request_id(client: TestClient) -> None:
    response = await client.get("/v1/companies/abc", headers={**AUTH, "X-Request-ID": "req-7"})

    body = await assert_problem(response, 400, "invalid_cnpj", field="cnpj")
    assert body["request_id"] == "req-7"


async def test_access_log_line_per_request(client: TestClient) -> None:
    body = {
        "cnaes": ["1091102"],
        "uf": "SP",
        "has_phone": "mobile",
        "note": "+5519987654321 contato@padaria.example",
    }

    with capture_logs() as logs:
        response = await search(client, body)

    assert response.status == 400
    access = [entry for entry in logs if entry["event"] == "http_request"]
    assert len(access) == 1
    line = access[0]
    assert line["method"] == "POST"
    assert line["path"] == "/v1/preleads/search"
    assert line["status"] == 400
    assert line["problem_code"] == "invalid_field"
    assert line["tenant_id"] == TENANT_ID
    assert isinstance(line["duration_ms"], float)

    logged = repr(logs)
    assert API_KEY not in logged
    assert "+5519987654321" not in logged
    assert "contato@padaria.example" not in logged


async def test_access_log_omits_bearer_key_and_query(client: TestClient) -> None:
    with capture_logs() as logs:
        await client.get(
            f"/v1/companies/{KNOWN_CNPJ}?email=contato@padaria.example",
            headers={"Authorization": f"Bearer {API_KEY}"},
        )

    logged = repr(logs)
    assert API_KEY not in logged
    assert "contato@padaria.example" not in logged
    access = [entry for entry in logs if entry["event"] == "http_request"]
    assert access[0]["path"] == f"/v1/companies/{KNOWN_CNPJ}"
    assert access[0]["status"] == 200
