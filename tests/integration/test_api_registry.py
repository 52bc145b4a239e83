"""The REST API over a real ingested month: search filters, paging, company detail and errors.

The module generates and ingests one synthetic month. Every test then builds
the real application over PostgreSQL and Redis and sends requests to it over
HTTP. Each filter is checked twice: every returned item must satisfy it, and
the returned CNPJs must equal what an independent SQL query over the registry
selects. Every response body is validated against the schema that
``/v1/openapi.json`` declares for its route, status and content type.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import attrs
import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from pytest_aiohttp import AiohttpClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from adapters.receita.synthetic import generate_month
from domain.cnpj import Cnpj, check_digits
from entrypoints.container import build_container, provide
from entrypoints.http.server import build_app
from entrypoints.progress import LogProgress
from entrypoints.settings import Settings

ESTABLISHMENTS = 3000
SEED = 3
#: Search criteria use the most common primary CNAEs of São Paulo state, up to
#: the 50 a search accepts, so every filter has enough rows to work on.
SEARCH_UF = "SP"
CNAES_PER_SEARCH = 50
MAX_PER_PAGE = 200

DOCUMENT_URI = "urn:garimpo:openapi"
SEARCH_PATH = "/v1/preleads/search"
COMPANY_TEMPLATE = "/v1/companies/{cnpj}"
PROBLEM_JSON = "application/problem+json"
VALID_PHONE_KINDS = frozenset({"mobile", "landline"})


# --- the month and the tenants ----------------------------------------------


@attrs.frozen
class LoadedMonth:
    """The ingested month and the two tenants that search it."""

    database_url: str
    #: The most common primary CNAEs in SEARCH_UF, most common first.
    cnaes: tuple[str, ...]
    tenant_id: str
    tenant_key: str
    other_tenant_id: str
    other_tenant_key: str


async def _load_month(settings: Settings, dump: Path) -> LoadedMonth:
    container = build_container(settings)
    await container.init_resources()
    try:
        ingest = await provide(container.ingest_month)
        await ingest(str(dump), LogProgress())
        api_keys = await provide(container.provisioning)
        tenant_id, tenant_key = await api_keys.create_tenant_with_key("Vendas Sul")
        other_id, other_key = await api_keys.create_tenant_with_key("Vendas Norte")
    finally:
        await container.shutdown_resources()

    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            """
            SELECT e.cnae_primary
            FROM registry.establishment e
            JOIN registry.cnae c ON c.code = e.cnae_primary
            WHERE e.uf = $1
            GROUP BY e.cnae_primary
            ORDER BY count(*) DESC, e.cnae_primary
            LIMIT $2
            """,
            SEARCH_UF,
            CNAES_PER_SEARCH,
        )
    finally:
        await conn.close()

    return LoadedMonth(
        database_url=settings.database_url,
        cnaes=tuple(row["cnae_primary"] for row in rows),
        tenant_id=tenant_id,
        tenant_key=tenant_key,
        other_tenant_id=other_id,
        other_tenant_key=other_key,
    )


@pytest.fixture(scope="module")
def month(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> LoadedMonth:
    """Generate and ingest one month for the whole module."""
    folder = tmp_path_factory.mktemp("api_registry")
    generate_month(folder / "dump", ESTABLISHMENTS, seed=SEED)
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        var_dir=folder / "var",
        log_format="json",
        # As in the ``settings`` fixture: low enough for a 3,000-row month to
        # have contacts shared by several establishments.
        shared_contact_threshold=3,
        ingest_min_ratio=0.0,
    )
    return asyncio.run(_load_month(settings, folder / "dump"))


@pytest.fixture
async def db(month: LoadedMonth) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(month.database_url)
    try:
        yield conn
    finally:
        await conn.close()


# --- the OpenAPI contract ------------------------------------------------------


def _pointer_part(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class OpenApiContract:
    """Validates response bodies against the schemas of the served OpenAPI document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(DOCUMENT_URI, resource)

    def _resolve(self, ref: str) -> Any:
        node: Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(
        self, method: str, template: str, status: int, content_type: str, body: Any
    ) -> list[str]:
        """Return why ``body`` does not match the declared response, or [] when it does."""
        responses = self.document["paths"][template][method.lower()]["responses"]
        if str(status) not in responses:
            return [f"{method} {template} returned {status}, which the document does not declare"]

        response = responses[str(status)]
        pointer = "/" + "/".join(
            _pointer_part(part)
            for part in ("paths", template, method.lower(), "responses", str(status))
        )
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#")
            response = self._resolve(response["$ref"])
        if content_type not in response["content"]:
            return [
                f"{method} {template} {status} returned {content_type}; "
                f"declared: {', '.join(response['content'])}"
            ]

        schema_ref = f"{DOCUMENT_URI}#{pointer}/content/{_pointer_part(content_type)}/schema"
        validator = Draft202012Validator(
            {"$ref": schema_ref},
            registry=self._registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(body)
        ]


# --- the API client ------------------------------------------------------------


@attrs.frozen
class ApiResult:
    status: int
    body: Any


class RegistryApi:
    """Sends requests to the app and checks every response against the OpenAPI document."""

    def __init__(self, client: TestClient[Any, Any], contract: OpenApiContract) -> None:
        self.client = client
        self.contract = contract

    async def request(
        self,
        method: str,
        path: str,
        template: str,
        *,
        api_key: str | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> ApiResult:
        sent_headers = dict(headers or {})
        if api_key is not None:
            sent_headers["X-API-Key"] = api_key
        if data is not None:
            sent_headers["Content-Type"] = "application/json"

        async with self.client.request(
            method, path, json=json_body, data=data, headers=sent_headers
        ) as response:
            body = json.loads(await response.text())
            content_type = response.content_type

        errors = self.contract.errors(method, template, response.status, content_type, body)
        assert errors == [], f"{method} {path} -> {response.status}: {errors}"
        return ApiResult(response.status, body)

    async def search(self, body: Any, *, api_key: str | None) -> ApiResult:
        return await self.request("POST", SEARCH_PATH, SEARCH_PATH, api_key=api_key, json_body=body)

    async def search_page(self, body: dict[str, Any], *, api_key: str) -> dict[str, Any]:
        result = await self.search(body, api_key=api_key)
        assert result.status == 200, result.body
        page: dict[str, Any] = result.body
        return page

    async def search_all(self, body: dict[str, Any], *, api_key: str) -> list[dict[str, Any]]:
        """Fetch every page of a search, checking that the pages fit together."""
        first = await self.search_page({**body, "page": 1}, api_key=api_key)
        meta = first["meta"]
        items: list[dict[str, Any]] = list(first["data"])
        for page in range(2, meta["total_pages"] + 1):
            following = await self.search_page({**body, "page": page}, api_key=api_key)
            assert following["meta"] == {**meta, "page": page}
            items.extend(following["data"])

        cnpjs = [item["cnpj"] for item in items]
        assert len(items) == meta["total_items"]
        assert meta["total_pages"] == math.ceil(meta["total_items"] / meta["per_page"])
        assert cnpjs == sorted(cnpjs)
        assert len(set(cnpjs)) == len(cnpjs)
        return items

    async def company(self, cnpj: str, *, api_key: str | None, **headers: str) -> ApiResult:
        return await self.request(
            "GET", f"/v1/companies/{cnpj}", COMPANY_TEMPLATE, api_key=api_key, headers=headers
        )


@pytest.fixture
async def api(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    month: LoadedMonth,
) -> RegistryApi:
    client = await aiohttp_client(build_app(build_container(settings)))
    async with client.get("/v1/openapi.json") as response:
        assert response.status == 200
        document = await response.json()

    registry_api = RegistryApi(client, OpenApiContract(document))
    assert (
        registry_api.contract.errors("GET", "/v1/openapi.json", 200, "application/json", document)
        == []
    )
    return registry_api


def base_search(month: LoadedMonth, **criteria: Any) -> dict[str, Any]:
    return {"cnaes": list(month.cnaes), "uf": SEARCH_UF, "per_page": MAX_PER_PAGE, **criteria}


# --- independent SQL for each filter -------------------------------------------

ACTIVE = "e.registration_status = '02'"
_VALID_KINDS_SQL = "('mobile', 'landline')"
_MOBILE_SQL = "('mobile')"
_LANDLINE_SQL = "('landline')"
_SHARED_PHONES = "(SELECT value FROM registry.shared_contact WHERE kind = 'phone')"
_SHARED_EMAILS = "(SELECT value FROM registry.shared_contact WHERE kind = 'email')"


def _phone_sql(kinds: str, *, own: bool = False) -> str:
    """True when phone 1 or phone 2 (the fax does not count) is of ``kinds``."""
    clauses = []
    for column in ("e.phone1", "e.phone2"):
        clause = f"{column}_kind IN {kinds}"
        if own:
            clause += f" AND {column} NOT IN {_SHARED_PHONES}"
        clauses.append(f"({clause}) IS TRUE")
    return "(" + " OR ".join(clauses) + ")"


def _email_sql(*, own: bool = False) -> str:
    clause = "e.email_valid"
    if own:
        clause += f" AND e.email NOT IN {_SHARED_EMAILS}"
    return f"(({clause}) IS TRUE)"


#: No working phone or e-mail at all, or at least one that is not shared.
_OWN_CONTACT_OR_NONE = (
    f"(NOT ({_phone_sql(_VALID_KINDS_SQL)} OR {_email_sql()}) "
    f"OR {_phone_sql(_VALID_KINDS_SQL, own=True)} OR {_email_sql(own=True)})"
)


async def expected_cnpjs(
    db: asyncpg.Connection, cnaes: list[str], condition: str, *, include_secondary: bool = False
) -> list[str]:
    """Select, in CNPJ order, the establishments of SEARCH_UF with ``cnaes`` that meet ``condition``."""
    cnae_sql = "e.cnae_primary = ANY($1::text[])"
    if include_secondary:
        cnae_sql += " OR e.cnaes_secondary && $1::text[]"
    rows = await db.fetch(
        f"""
        SELECT e.cnpj
        FROM registry.establishment e
        LEFT JOIN registry.company c ON c.cnpj_root = e.cnpj_root
        LEFT JOIN registry.simples s ON s.cnpj_root = e.cnpj_root
        WHERE e.uf = $2 AND ({cnae_sql}) AND ({condition})
        ORDER BY e.cnpj
        """,
        cnaes,
        SEARCH_UF,
    )
    return [row["cnpj"] for row in rows]


# --- what each returned item must show -----------------------------------------


def has_phone(item: dict[str, Any], kinds: frozenset[str], *, own: bool = False) -> bool:
    """Tell whether one of the item's phones is of ``kinds`` (and not shared, with ``own``).

    The list also contains the fax, which the filters ignore, so this check is
    necessary but not sufficient. The SQL comparison checks the exact set.
    """
    return any(phone["kind"] in kinds and not (own and phone["shared"]) for phone in item["phones"])


def has_valid_email(item: dict[str, Any], *, own: bool = False) -> bool:
    email = item["email"]
    return email is not None and email["valid"] and not (own and email["shared"])


def only_shared_contacts(item: dict[str, Any]) -> bool:
    """Tell whether the item has working contacts and every one of them is shared.

    The fax counts here although the filter ignores it. No establishment of
    this month has a working fax as its only contact, so both rules agree.
    """
    shared_flags = [
        phone["shared"] for phone in item["phones"] if phone["kind"] in VALID_PHONE_KINDS
    ]
    if has_valid_email(item):
        shared_flags.append(item["email"]["shared"])
    return bool(shared_flags) and all(shared_flags)


def capital(item: dict[str, Any]) -> Decimal | None:
    return Decimal(item["share_capital"]) if item["share_capital"] is not None else None


@attrs.frozen
class FilterCase:
    name: str
    #: Criteria added to ``base_search``.
    criteria: dict[str, Any]
    #: SQL condition over e (establishment), c (company) and s (simples).
    condition: str
    #: Predicate that every returned item must satisfy.
    item_matches: Callable[[dict[str, Any]], bool]
    #: True when the filter must return fewer items than the default search.
    narrows: bool = True


FILTER_CASES = [
    FilterCase(
        "active_by_default",
        {},
        ACTIVE,
        lambda item: item["registration_status"] == {"code": "02", "description": "ATIVA"},
        narrows=False,
    ),
    FilterCase(
        "include_secondary",
        {"cnaes": ["4781400"], "include_secondary": True},
        ACTIVE,
        lambda item: "4781400" in (item["cnae_primary"]["code"], *item["cnaes_secondary"]),
        narrows=False,
    ),
    FilterCase(
        "status_baixada",
        {"registration_status": ["BAIXADA"]},
        "e.registration_status = '08'",
        lambda item: item["registration_status"] == {"code": "08", "description": "BAIXADA"},
        narrows=False,
    ),
    FilterCase(
        "status_code_and_name",
        {"registration_status": ["04", "ATIVA"]},
        "e.registration_status IN ('02', '04')",
        lambda item: item["registration_status"]["code"] in {"02", "04"},
        narrows=False,
    ),
    FilterCase(
        "company_size_me",
        {"company_size": ["ME"]},
        f"{ACTIVE} AND c.company_size = '01'",
        lambda item: item["company_size"] == {"code": "01", "description": "MICRO EMPRESA"},
    ),
    FilterCase(
        "company_size_epp_and_code",
        {"company_size": ["EPP", "05"]},
        f"{ACTIVE} AND c.company_size IN ('03', '05')",
        lambda item: (
            item["company_size"] is not None and item["company_size"]["code"] in {"03", "05"}
        ),
    ),
    FilterCase(
        "opened_between",
        {"opened_from": "2010-01-01", "opened_to": "2019-12-31"},
        f"{ACTIVE} AND e.opening_date BETWEEN '2010-01-01' AND '2019-12-31'",
        lambda item: (
            item["opening_date"] is not None
            and "2010-01-01" <= item["opening_date"] <= "2019-12-31"
        ),
    ),
    FilterCase(
        "share_capital_between",
        {"share_capital_min": 1000, "share_capital_max": "50000.50"},
        f"{ACTIVE} AND c.share_capital BETWEEN 1000 AND 50000.50",
        lambda item: (
            (amount := capital(item)) is not None
            and Decimal("1000") <= amount <= Decimal("50000.50")
        ),
    ),
    FilterCase(
        "simples_opted",
        {"simples": True},
        f"{ACTIVE} AND s.simples_opted IS TRUE",
        lambda item: item["simples_opted"] is True,
    ),
    FilterCase(
        "simples_not_opted",
        {"simples": False},
        f"{ACTIVE} AND s.simples_opted IS NOT TRUE",
        lambda item: item["simples_opted"] is not True,
    ),
    FilterCase(
        "mei_opted",
        {"mei": True},
        f"{ACTIVE} AND s.mei_opted IS TRUE",
        lambda item: item["mei_opted"] is True,
    ),
    FilterCase(
        "mei_not_opted",
        {"mei": False},
        f"{ACTIVE} AND s.mei_opted IS NOT TRUE",
        lambda item: item["mei_opted"] is not True,
    ),
    FilterCase(
        "phone_any",
        {"has_phone": "any"},
        f"{ACTIVE} AND {_phone_sql(_VALID_KINDS_SQL)}",
        lambda item: has_phone(item, VALID_PHONE_KINDS),
    ),
    FilterCase(
        "phone_mobile",
        {"has_phone": "mobile"},
        f"{ACTIVE} AND {_phone_sql(_MOBILE_SQL)}",
        lambda item: has_phone(item, frozenset({"mobile"})),
    ),
    FilterCase(
        "phone_landline",
        {"has_phone": "landline"},
        f"{ACTIVE} AND {_phone_sql(_LANDLINE_SQL)}",
        lambda item: has_phone(item, frozenset({"landline"})),
    ),
    FilterCase(
        "email_valid",
        {"has_email": True},
        f"{ACTIVE} AND {_email_sql()}",
        has_valid_email,
    ),
    FilterCase(
        "email_missing_or_invalid",
        {"has_email": False},
        f"{ACTIVE} AND NOT {_email_sql()}",
        lambda item: not has_valid_email(item),
    ),
    FilterCase(
        "exclude_shared_contacts",
        {"exclude_shared_contacts": True},
        f"{ACTIVE} AND {_OWN_CONTACT_OR_NONE}",
        lambda item: not only_shared_contacts(item),
    ),
    FilterCase(
        "own_email_only",
        {"exclude_shared_contacts": True, "has_email": True},
        f"{ACTIVE} AND {_email_sql(own=True)}",
        lambda item: has_valid_email(item, own=True),
    ),
    FilterCase(
        "own_mobile_only",
        {"exclude_shared_contacts": True, "has_phone": "mobile"},
        f"{ACTIVE} AND {_phone_sql(_MOBILE_SQL, own=True)} AND {_OWN_CONTACT_OR_NONE}",
        lambda item: has_phone(item, frozenset({"mobile"}), own=True),
    ),
    FilterCase(
        "head_office_only",
        {"head_office_only": True},
        f"{ACTIVE} AND e.is_head_office",
        lambda item: item["head_office"] is True,
    ),
]


# --- search filters ------------------------------------------------------------


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda case: case.name)
async def test_search_filter(
    api: RegistryApi, db: asyncpg.Connection, month: LoadedMonth, case: FilterCase
) -> None:
    criteria = base_search(month, **case.criteria)

    items = await api.search_all(criteria, api_key=month.tenant_key)

    failing = [item["cnpj"] for item in items if not case.item_matches(item)]
    assert failing == []
    for item in items:
        assert item["address"]["uf"] == SEARCH_UF

    expected = await expected_cnpjs(
        db,
        criteria["cnaes"],
        case.condition,
        include_secondary=criteria.get("include_secondary", False),
    )
    found = [item["cnpj"] for item in items]
    assert expected, f"{case.name} matched nothing, so the checks above prove nothing"
    assert sorted(set(expected) - set(found)) == [], "selected by SQL but not returned"
    assert sorted(set(found) - set(expected)) == [], "returned but not selected by SQL"
    assert found == expected

    if case.narrows:
        default = await expected_cnpjs(db, criteria["cnaes"], ACTIVE)
        assert len(expected) < len(default)


async def test_include_secondary_widens(api: RegistryApi, month: LoadedMonth) -> None:
    primary_only = await api.search_all(
        base_search(month, cnaes=["4781400"]), api_key=month.tenant_key
    )
    with_secondary = await api.search_all(
        base_search(month, cnaes=["4781400"], include_secondary=True), api_key=month.tenant_key
    )

    primary_cnpjs = {item["cnpj"] for item in primary_only}
    widened = [item for item in with_secondary if item["cnpj"] not in primary_cnpjs]
    assert primary_cnpjs < {item["cnpj"] for item in with_secondary}
    for item in widened:
        assert item["cnae_primary"]["code"] != "4781400"
        assert "4781400" in item["cnaes_secondary"]


@pytest.mark.parametrize("field", ["simples", "mei", "has_email"])
async def test_yes_no_filters_split_results(
    api: RegistryApi, month: LoadedMonth, field: str
) -> None:
    totals = {}
    for value in (True, False, None):
        page = await api.search_page(base_search(month, **{field: value}), api_key=month.tenant_key)
        totals[value] = page["meta"]["total_items"]

    assert totals[True] > 0
    assert totals[False] > 0
    assert totals[True] + totals[False] == totals[None]


async def test_exclude_existing_per_tenant(
    api: RegistryApi, db: asyncpg.Connection, month: LoadedMonth
) -> None:
    criteria = base_search(month)
    everything = [item["cnpj"] for item in await api.search_all(criteria, api_key=month.tenant_key)]
    prelead_cnpj, lead_cnpj = everything[0], everything[-1]

    async def insert(table: str, cnpj: str) -> None:
        async with db.transaction():
            # Row-level security on prelead and lead reads the tenant from this setting.
            await db.execute("SELECT set_config('garimpo.tenant_id', $1, true)", month.tenant_id)
            await db.execute(
                f"INSERT INTO {table} (tenant_id, cnpj) VALUES ($1::uuid, $2)",
                month.tenant_id,
                cnpj,
            )

    async def delete(table: str, cnpj: str) -> None:
        async with db.transaction():
            await db.execute("SELECT set_config('garimpo.tenant_id', $1, true)", month.tenant_id)
            await db.execute(f"DELETE FROM {table} WHERE cnpj = $1", cnpj)

    await insert("prelead", prelead_cnpj)
    await insert("lead", lead_cnpj)
    try:
        excluded = await api.search_all(
            base_search(month, exclude_existing=True), api_key=month.tenant_key
        )
        for_other_tenant = await api.search_all(
            base_search(month, exclude_existing=True), api_key=month.other_tenant_key
        )
        without_flag = await api.search_all(criteria, api_key=month.tenant_key)
    finally:
        await delete("prelead", prelead_cnpj)
        await delete("lead", lead_cnpj)

    assert [item["cnpj"] for item in excluded] == everything[1:-1]
    assert [item["cnpj"] for item in for_other_tenant] == everything
    assert [item["cnpj"] for item in without_flag] == everything


# --- paging --------------------------------------------------------------------


async def test_pages_follow_cnpj_order(
    api: RegistryApi, db: asyncpg.Connection, month: LoadedMonth
) -> None:
    criteria = base_search(month, per_page=50)

    first = await api.search_page({**criteria, "page": 1}, api_key=month.tenant_key)
    second = await api.search_page({**criteria, "page": 2}, api_key=month.tenant_key)
    first_again = await api.search_page({**criteria, "page": 1}, api_key=month.tenant_key)

    first_cnpjs = [item["cnpj"] for item in first["data"]]
    second_cnpjs = [item["cnpj"] for item in second["data"]]
    assert len(first_cnpjs) == 50
    assert len(second_cnpjs) == 50
    assert first_cnpjs == sorted(first_cnpjs)
    assert second_cnpjs == sorted(second_cnpjs)
    assert first_cnpjs[-1] < second_cnpjs[0]
    assert set(first_cnpjs).isdisjoint(second_cnpjs)
    assert first_again == first

    total = first["meta"]["total_items"]
    assert second["meta"]["total_items"] == total
    assert first["meta"]["total_pages"] == second["meta"]["total_pages"] == math.ceil(total / 50)

    expected = await expected_cnpjs(db, criteria["cnaes"], ACTIVE)
    assert total == len(expected)
    assert first_cnpjs + second_cnpjs == expected[:100]


async def test_meta_envelope(api: RegistryApi, month: LoadedMonth) -> None:
    criteria = base_search(month, per_page=7)
    total = (await api.search_page(criteria, api_key=month.tenant_key))["meta"]["total_items"]
    pages = math.ceil(total / 7)

    middle = await api.search_page({**criteria, "page": 3}, api_key=month.tenant_key)
    last = await api.search_page({**criteria, "page": pages}, api_key=month.tenant_key)
    defaults = await api.search_page(
        {"cnaes": list(month.cnaes), "uf": SEARCH_UF}, api_key=month.tenant_key
    )

    assert middle["meta"] == {
        "page": 3,
        "per_page": 7,
        "total_items": total,
        "total_pages": pages,
        "source": "local",
        "warnings": [],
    }
    assert len(middle["data"]) == 7
    assert last["meta"]["page"] == pages
    assert len(last["data"]) == total - 7 * (pages - 1)
    assert defaults["meta"] == {
        "page": 1,
        "per_page": 50,
        "total_items": total,
        "total_pages": math.ceil(total / 50),
        "source": "local",
        "warnings": [],
    }


async def test_page_out_of_range(api: RegistryApi, month: LoadedMonth) -> None:
    criteria = base_search(month, per_page=MAX_PER_PAGE)
    pages = (await api.search_page(criteria, api_key=month.tenant_key))["meta"]["total_pages"]

    result = await api.search({**criteria, "page": pages + 1}, api_key=month.tenant_key)

    assert result.status == 400
    assert result.body["code"] == "page_out_of_range"
    assert result.body["field"] == "page"
    assert f"A página {pages + 1} não existe" in result.body["detail"]


async def test_empty_result_first_page(api: RegistryApi, month: LoadedMonth) -> None:
    criteria = base_search(month, opened_from="2099-01-01")

    first = await api.search(criteria, api_key=month.tenant_key)
    second = await api.search({**criteria, "page": 2}, api_key=month.tenant_key)

    assert first.status == 200
    assert first.body == {
        "meta": {
            "page": 1,
            "per_page": MAX_PER_PAGE,
            "total_items": 0,
            "total_pages": 0,
            "source": "local",
            "warnings": [],
        },
        "data": [],
    }
    assert second.status == 400
    assert second.body["code"] == "page_out_of_range"


# --- company detail --------------------------------------------------------------


def coded_values(node: Any, path: str = "data") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield every ``{"code", "description"}`` object under ``node`` with its path."""
    if isinstance(node, dict):
        if set(node) == {"code", "description"}:
            yield path, node
            return
        for key, value in node.items():
            yield from coded_values(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from coded_values(value, f"{path}[{index}]")


async def company_with_partners(
    api: RegistryApi, db: asyncpg.Connection, month: LoadedMonth
) -> dict[str, Any]:
    """Return the first Simples-opted search result whose company has partners."""
    items = await api.search_all(base_search(month, simples=True), api_key=month.tenant_key)
    roots = {
        row["cnpj_root"]
        for row in await db.fetch(
            "SELECT DISTINCT cnpj_root FROM registry.partner WHERE cnpj_root = ANY($1::text[])",
            [item["cnpj"][:8] for item in items],
        )
    }
    with_partners = [item for item in items if item["cnpj"][:8] in roots]
    assert with_partners, "no Simples-opted result has partners in this month"
    return with_partners[0]


async def test_company_detail_from_search(
    api: RegistryApi, db: asyncpg.Connection, month: LoadedMonth
) -> None:
    item = await company_with_partners(api, db, month)
    root = item["cnpj"][:8]

    result = await api.company(item["cnpj"], api_key=month.tenant_key)

    assert result.status == 200
    detail = result.body["data"]
    for key, value in item.items():
        assert detail[key] == value, key

    partner_count = await db.fetchval(
        "SELECT count(*) FROM registry.partner WHERE cnpj_root = $1", root
    )
    assert len(detail["partners"]) == partner_count > 0
    assert detail["company"]["cnpj_root"] == root
    assert detail["company"]["legal_name"] == item["legal_name"]

    simples = await db.fetchrow("SELECT * FROM registry.simples WHERE cnpj_root = $1", root)
    assert detail["simples"] == {
        "opted": True,
        "since": simples["simples_since"].isoformat() if simples["simples_since"] else None,
        "until": simples["simples_until"].isoformat() if simples["simples_until"] else None,
    }
    assert detail["mei"]["opted"] == simples["mei_opted"]

    snapshot = await db.fetchrow("SELECT run_id, reference FROM registry.snapshot")
    assert detail["snapshot"]["run_id"] == str(snapshot["run_id"])
    assert detail["snapshot"]["reference"] == snapshot["reference"]

    coded = dict(coded_values(detail))
    assert "data.company.legal_nature" in coded
    assert "data.partners[0].qualification" in coded
    unresolved = [path for path, value in coded.items() if value["description"] is None]
    assert unresolved == []
    assert detail["address"]["municipality"]["name"]
    assert detail["address"]["municipality"]["ibge_code"]


async def test_company_formatted_cnpj(
    api: RegistryApi, db: asyncpg.Connection, month: LoadedMonth
) -> None:
    item = await company_with_partners(api, db, month)
    # The slash of 11.222.333/0001-81 must be percent-encoded in the path.
    formatted = quote(item["cnpj_formatted"], safe="")

    result = await api.company(formatted, api_key=month.tenant_key)

    assert result.status == 200
    assert result.body["data"]["cnpj"] == item["cnpj"]


async def test_company_bearer_token(
    api: RegistryApi, db: asyncpg.Connection, month: LoadedMonth
) -> None:
    item = await company_with_partners(api, db, month)

    result = await api.company(
        item["cnpj"], api_key=None, Authorization=f"Bearer {month.tenant_key}"
    )

    assert result.status == 200
    assert result.body["data"]["cnpj"] == item["cnpj"]


async def test_unknown_company_not_found(
    api: RegistryApi, db: asyncpg.Connection, month: LoadedMonth
) -> None:
    base = "999999990001"
    cnpj = Cnpj(base + check_digits(base))
    assert (
        await db.fetchval("SELECT count(*) FROM registry.establishment WHERE cnpj = $1", cnpj.value)
        == 0
    )

    result = await api.company(cnpj.value, api_key=month.tenant_key)

    assert result.status == 404
    assert result.body["code"] == "company_not_found"
    assert result.body["field"] == "cnpj"
    assert cnpj.formatted() in result.body["detail"]


async def test_invalid_cnpj(api: RegistryApi, month: LoadedMonth) -> None:
    result = await api.company("11222333000100", api_key=month.tenant_key)

    assert result.status == 400
    assert result.body["code"] == "invalid_cnpj"
    assert result.body["field"] == "cnpj"
    assert "dígitos verificadores" in result.body["detail"]


# --- authentication, malformed bodies, health ---------------------------------


async def test_missing_or_unknown_api_key(api: RegistryApi, month: LoadedMonth) -> None:
    missing = await api.search(base_search(month), api_key=None)
    unknown = await api.search(base_search(month), api_key="gar_00000000_not-a-real-key")
    company = await api.company("11222333000181", api_key=None)

    assert (missing.status, missing.body["code"]) == (401, "authentication_required")
    assert (unknown.status, unknown.body["code"]) == (401, "invalid_api_key")
    assert (company.status, company.body["code"]) == (401, "authentication_required")


@pytest.mark.parametrize(
    "raw_body",
    [b'{"cnaes": ["4781400"], "uf": "SP"', b"", b'["4781400"]'],
    ids=["truncated", "empty", "array"],
)
async def test_malformed_json(api: RegistryApi, month: LoadedMonth, raw_body: bytes) -> None:
    result = await api.request(
        "POST", SEARCH_PATH, SEARCH_PATH, api_key=month.tenant_key, data=raw_body
    )

    assert result.status == 400
    assert result.body["code"] == "invalid_json"
    assert result.body["detail"].startswith("O corpo da requisição")


async def test_health(api: RegistryApi) -> None:
    result = await api.request("GET", "/health", "/health")

    assert result.status == 200
    assert result.body == {"status": "ok"}


async def test_ready_checks_database_and_redis(api: RegistryApi) -> None:
    result = await api.request("GET", "/ready", "/ready")

    assert result.status == 200
    assert result.body == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_contract_rejects_wrong_body(api: RegistryApi) -> None:
    contract = api.contract

    missing_meta = contract.errors("POST", SEARCH_PATH, 200, "application/json", {"data": []})
    wrong_status = contract.errors("GET", "/health", 204, "application/json", {})
    wrong_type = contract.errors("GET", "/health", 200, PROBLEM_JSON, {"status": "ok"})

    assert any("'meta' is a required property" in error for error in missing_meta)
    assert wrong_status != []
    assert wrong_type != []
