"""The OpenAPI document and the application agree, and real responses match the schemas.

Every route registered in the application must be a documented operation and
the other way round; every component schema must be valid JSON Schema
2020-12; and each operation, called through a fake-backed application, must
return a declared status with a body that validates against its schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from application.company_source import SourceErrorKind
from entrypoints.http.app import OPENAPI_DOCUMENT_KEY, create_app
from entrypoints.http.openapi import build_openapi_document, registry_paths
from entrypoints.http.permissions import Zone, route_access
from tests.support.fake_external_companies import MemoryCompanySource, MemoryExternalStore
from tests.unit.test_http_api import (
    API_KEY,
    KNOWN_CNPJ,
    UNKNOWN_CNPJ,
    FakeCompanyQueries,
    FakeReadiness,
    make_queries,
    make_services,
)

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOCUMENT_URI = "urn:garimpo:openapi"
AUTH = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi_document(max_per_page=100)


def documented_operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Map (METHOD, path template) to each operation of the document."""
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def resolve_local(document: dict[str, Any], ref: str) -> Any:
    """Follow a ``#/...`` reference inside the document."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def escape_pointer_part(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def iter_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from iter_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from iter_refs(value)


def schema_validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """Build a validator for the schema at ``pointer``, resolving ``$ref`` against the document."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource(DOCUMENT_URI, resource)
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def declared_response(
    document: dict[str, Any], method: str, path: str, status: int
) -> tuple[dict[str, Any], str]:
    """Return the declared response for ``status`` and the JSON pointer to it."""
    operation = document["paths"][path][method.lower()]
    assert str(status) in operation["responses"], (
        f"{method} {path} answered {status}, which the document does not declare"
    )
    response = operation["responses"][str(status)]
    pointer = "/" + "/".join(
        escape_pointer_part(part)
        for part in ("paths", path, method.lower(), "responses", str(status))
    )
    if "$ref" in response:
        pointer = response["$ref"][1:]
        response = resolve_local(document, response["$ref"])
    return response, pointer


# --- the document itself ---------------------------------------------------


def test_document_is_openapi_31(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]
    assert document["info"]["version"]


def test_servers_are_relative_only(document: dict[str, Any]) -> None:
    assert [server["url"] for server in document["servers"]] == ["/"]


def test_api_key_security_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["apiKey"]

    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-API-Key"}


@pytest.mark.parametrize(
    "name", sorted(build_openapi_document(max_per_page=100)["components"]["schemas"])
)
def test_component_schema_is_valid_2020_12(document: dict[str, Any], name: str) -> None:
    Draft202012Validator.check_schema(document["components"]["schemas"][name])


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = set(iter_refs(document))

    assert refs
    for ref in sorted(refs):
        assert resolve_local(document, ref) is not None, ref


def test_operation_ids_unique_and_english(document: dict[str, Any]) -> None:
    operation_ids = [op["operationId"] for op in documented_operations(document).values()]

    assert len(operation_ids) == len(set(operation_ids))
    for operation_id in operation_ids:
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", operation_id), operation_id


def test_operations_have_pt_br_descriptions(document: dict[str, Any]) -> None:
    for key, operation in documented_operations(document).items():
        assert operation.get("summary"), key
        assert operation.get("description"), key
        for status, response in operation["responses"].items():
            if "$ref" not in response:
                assert response.get("description"), (key, status)


def test_problem_responses_use_problem_json(document: dict[str, Any]) -> None:
    for name, response in document["components"]["responses"].items():
        assert list(response["content"]) == ["application/problem+json"], name
        example = response["content"]["application/problem+json"]["example"]
        schema = response["content"]["application/problem+json"]["schema"]
        pointer = schema["$ref"][1:]
        schema_validator(document, pointer).validate(example)


def test_every_operation_declares_500(document: dict[str, Any]) -> None:
    for key, operation in documented_operations(document).items():
        assert "500" in operation["responses"], key


def test_security_matches_the_permission_table(document: dict[str, Any]) -> None:
    for (method, path), operation in documented_operations(document).items():
        access = route_access(method, path)
        assert access is not None, (method, path)
        if access.zone is Zone.PUBLIC:
            assert operation["security"] == [], (method, path)
            continue
        assert {"bearerAuth": []} in operation["security"], (method, path)
        if access.zone is not Zone.SESSION:
            assert {"apiKey": []} in operation["security"], (method, path)
        for status in ("401", "403", "429"):
            assert status in operation["responses"], (method, path, status)
        if access.permission is not None:
            assert operation["x-garimpo-permission"] == access.permission.value
            assert access.permission.value in operation["description"]


def test_search_request_example_validates(document: dict[str, Any]) -> None:
    content = document["paths"]["/v1/preleads/search"]["post"]["requestBody"]["content"]

    schema_validator(document, "/components/schemas/SearchRequest").validate(
        content["application/json"]["example"]
    )


def test_per_page_maximum_follows_app_limit() -> None:
    document = build_openapi_document(max_per_page=30)
    per_page = document["components"]["schemas"]["SearchRequest"]["properties"]["per_page"]

    assert per_page["maximum"] == 30
    assert per_page["default"] == 30


# --- the application and the document agree --------------------------------


def registered_routes(app: Any) -> set[tuple[str, str]]:
    return {(route.method, route.resource.canonical) for route in app.router.routes()}


def test_registered_routes_are_documented() -> None:
    app = create_app(make_services(make_queries(), FakeReadiness()))

    documented = set(documented_operations(app[OPENAPI_DOCUMENT_KEY]))

    assert registered_routes(app) - documented == set()
    assert documented - registered_routes(app) == set()


def test_served_document_is_the_built_one() -> None:
    services = make_services(make_queries(), FakeReadiness(), max_per_page=100)

    app = create_app(services)

    assert app[OPENAPI_DOCUMENT_KEY] == build_openapi_document(max_per_page=100)


@attrs.define
class ApiCnaes:
    """api-cnaes behind a contract call: off by default, as in the embedded configuration."""

    source: MemoryCompanySource | None = None
    store: MemoryExternalStore | None = None


@attrs.frozen
class World:
    """The fakes behind one contract call, so a case can break a component first."""

    queries: FakeCompanyQueries
    readiness: FakeReadiness
    api_cnaes: ApiCnaes = attrs.field(factory=ApiCnaes)


@attrs.frozen
class ContractCall:
    """One request to an operation and its expected status."""

    name: str
    method: str
    template: str
    path: str
    status: int
    headers: dict[str, str] = attrs.field(factory=dict)
    json: Any = None
    data: bytes | None = None
    arrange: Callable[[World], None] | None = None


def _break_database(world: World) -> None:
    world.readiness.down.add("database")


def _fail_queries(world: World) -> None:
    world.queries.error = RuntimeError("unexpected failure")


def _fail_api_cnaes(world: World) -> None:
    source = MemoryCompanySource()
    source.fail_with(SourceErrorKind.UNAVAILABLE)
    world.api_cnaes.source = source
    world.api_cnaes.store = MemoryExternalStore()


_SEARCH = ("POST", "/v1/preleads/search")
_COMPANY = ("GET", "/v1/companies/{cnpj}")

CONTRACT_CALLS = [
    ContractCall("health", "GET", "/health", "/health", 200),
    ContractCall("ready", "GET", "/ready", "/ready", 200),
    ContractCall("not-ready", "GET", "/ready", "/ready", 503, arrange=_break_database),
    ContractCall("openapi", "GET", "/v1/openapi.json", "/v1/openapi.json", 200),
    ContractCall(
        "search", *_SEARCH, "/v1/preleads/search", 200,
        headers=AUTH, json={"cnaes": ["1091102"], "uf": "SP"},
    ),
    ContractCall(
        "search-empty-page", *_SEARCH, "/v1/preleads/search", 200,
        headers=AUTH, json={"cnaes": ["1091102"], "uf": "SP", "page": 1, "per_page": 100},
        arrange=lambda world: world.queries.items.clear(),
    ),
    ContractCall(
        "search-invalid-field", *_SEARCH, "/v1/preleads/search", 400,
        headers=AUTH, json={"cnaes": "1091102", "uf": "SP"},
    ),
    ContractCall(
        "search-invalid-json", *_SEARCH, "/v1/preleads/search", 400,
        headers={**AUTH, "Content-Type": "application/json"}, data=b"{",
    ),
    ContractCall(
        "search-page-out-of-range", *_SEARCH, "/v1/preleads/search", 400,
        headers=AUTH, json={"cnaes": ["1091102"], "uf": "SP", "page": 9},
    ),
    ContractCall(
        "search-api-cnaes-off", *_SEARCH, "/v1/preleads/search", 409,
        headers=AUTH, json={"cnaes": ["1091102"], "uf": "SP", "source": "api-cnaes"},
    ),
    ContractCall(
        "search-no-key", *_SEARCH, "/v1/preleads/search", 401,
        json={"cnaes": ["1091102"], "uf": "SP"},
    ),
    ContractCall(
        "search-too-large", *_SEARCH, "/v1/preleads/search", 413,
        headers={**AUTH, "Content-Type": "application/json"},
        data=b'{"cnaes": ["' + b"1" * (1024 * 1024) + b'"]}',
    ),
    ContractCall(
        "search-internal-error", *_SEARCH, "/v1/preleads/search", 500,
        headers=AUTH, json={"cnaes": ["1091102"], "uf": "SP"}, arrange=_fail_queries,
    ),
    ContractCall("company", *_COMPANY, f"/v1/companies/{KNOWN_CNPJ}", 200, headers=AUTH),
    ContractCall("company-invalid-cnpj", *_COMPANY, "/v1/companies/123", 400, headers=AUTH),
    ContractCall(
        "company-invalid-key", *_COMPANY, f"/v1/companies/{KNOWN_CNPJ}", 401,
        headers={"X-API-Key": "gk_revoked_key"},
    ),
    ContractCall(
        "company-not-found", *_COMPANY, f"/v1/companies/{UNKNOWN_CNPJ}", 404, headers=AUTH,
    ),
    ContractCall(
        "company-internal-error", *_COMPANY, f"/v1/companies/{KNOWN_CNPJ}", 500,
        headers=AUTH, arrange=_fail_queries,
    ),
    ContractCall(
        "company-api-cnaes-failed", *_COMPANY, f"/v1/companies/{UNKNOWN_CNPJ}", 503,
        headers=AUTH, arrange=_fail_api_cnaes,
    ),
]  # fmt: skip


def registry_operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Operations of the registry and the service; the other parts run against the database."""
    own = set(registry_paths())
    return {key: op for key, op in documented_operations(document).items() if key[1] in own}


#: Refusals of the authentication and rate-limit layers, exercised against the
#: real stack by tests/integration/test_openapi_live.py.
LAYER_STATUSES = {403, 429}


def test_contract_calls_cover_every_operation(document: dict[str, Any]) -> None:
    called = {(call.method, call.template) for call in CONTRACT_CALLS}

    assert called == set(registry_operations(document))


def test_contract_calls_cover_every_declared_status(document: dict[str, Any]) -> None:
    called = {(call.method, call.template, call.status) for call in CONTRACT_CALLS}
    declared = {
        (method, path, int(status))
        for (method, path), operation in registry_operations(document).items()
        for status in operation["responses"]
        if int(status) not in LAYER_STATUSES
    }

    # The document declares 500 on every operation; these have no fake to break.
    unreachable_500 = {
        ("GET", "/health", 500),
        ("GET", "/ready", 500),
        ("GET", "/v1/openapi.json", 500),
    }

    assert declared - called - unreachable_500 == set()


@pytest.mark.parametrize("call", CONTRACT_CALLS, ids=lambda call: call.name)
async def test_response_matches_document(aiohttp_client: Any, call: ContractCall) -> None:
    world = World(queries=make_queries(), readiness=FakeReadiness())
    if call.arrange is not None:
        call.arrange(world)
    services = make_services(
        world.queries,
        world.readiness,
        company_source=world.api_cnaes.source,
        external_store=world.api_cnaes.store,
    )
    app = create_app(services)
    client: TestClient = await aiohttp_client(app)
    document = app[OPENAPI_DOCUMENT_KEY]

    response = await client.request(
        call.method, call.path, headers=call.headers, json=call.json, data=call.data
    )

    assert response.status == call.status, await response.text()
    declared, pointer = declared_response(document, call.method, call.template, response.status)
    assert response.content_type in declared["content"]
    body = await response.json(content_type=None)
    media_pointer = f"{pointer}/content/{escape_pointer_part(response.content_type)}/schema"
    schema_validator(document, media_pointer).validate(body)
