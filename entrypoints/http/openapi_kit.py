"""Builders for OpenAPI operations, shared by every part of the document.

Each route module's part (``openapi_*.py``) exposes ``TAGS``, ``paths()`` and
``schemas()``; ``entrypoints.http.openapi`` merges them. ``operation`` adds
the error responses a route can give from its zone, so every operation
documents 401, 403 and 429 the same way.
"""

from __future__ import annotations

from typing import Any, Literal

Security = Literal["public", "session", "tenant", "host"]

#: Credentials each zone accepts. Tenant and host routes take an access token
#: or an API key; session routes take only the access token of a login.
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "session": [{"bearerAuth": []}],
    "tenant": [{"apiKey": []}, {"bearerAuth": []}],
    "host": [{"apiKey": []}, {"bearerAuth": []}],
}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable_ref(name: str) -> dict[str, Any]:
    return {"anyOf": [ref(name), {"type": "null"}]}


def response_ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def text(description: str, *, nullable: bool = False, fmt: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": ["string", "null"] if nullable else "string",
        "description": description,
    }
    if fmt is not None:
        schema["format"] = fmt
    return schema


def integer(
    description: str, *, nullable: bool = False, minimum: int | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": ["integer", "null"] if nullable else "integer",
        "description": description,
    }
    if minimum is not None:
        schema["minimum"] = minimum
    return schema


def obj(
    description: str, properties: dict[str, Any], *, required: list[str] | None = None
) -> dict[str, Any]:
    """An object schema; every property is required unless ``required`` lists fewer."""
    return {
        "type": "object",
        "description": description,
        "required": list(properties) if required is None else required,
        "properties": properties,
    }


def envelope(description: str, item: dict[str, Any]) -> dict[str, Any]:
    """``{"data": item}``."""
    return obj(description, {"data": item})


def one_response(description: str, schema: str, status: str = "200") -> dict[str, Any]:
    """A response whose body is ``{"data": <schema>}``."""
    return {
        status: {
            "description": description,
            "content": json_content(envelope(description, ref(schema))),
        }
    }


def page_response(description: str, page_schema: str) -> dict[str, Any]:
    """A 200 response whose body is the page schema ``page_schema``."""
    return {"200": {"description": description, "content": json_content(ref(page_schema))}}


def page_of(description: str, item_schema: str) -> dict[str, Any]:
    """``{"meta": PageMeta, "data": [item]}``."""
    return obj(
        description,
        {"meta": ref("PageMeta"), "data": {"type": "array", "items": ref(item_schema)}},
    )


def path_id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "format": "uuid"},
    }


def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


PAGE_PARAMETERS = [
    query("page", "Página, a partir de 1.", {"type": "integer", "minimum": 1, "default": 1}),
    query("per_page", "Itens por página.", {"type": "integer", "minimum": 1, "default": 50}),
]


def operation(
    operation_id: str,
    tag: str,
    summary: str,
    description: str,
    *,
    security: Security,
    responses: dict[str, Any],
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    body_example: dict[str, Any] | None = None,
    rules: bool = False,
) -> dict[str, Any]:
    """One operation with the error responses its zone and inputs can produce.

    ``rules`` says the operation enforces business rules on well-formed input,
    which answer 422.
    """
    all_responses = dict(responses)
    if rules:
        all_responses.setdefault("422", response_ref("Unprocessable"))
    has_path_id = any(p.get("in") == "path" for p in parameters or [])
    if body is not None or parameters:
        all_responses.setdefault("400", response_ref("BadRequest"))
    if security != "public":
        all_responses.setdefault("401", response_ref("Unauthorized"))
        all_responses.setdefault("403", response_ref("Forbidden"))
        all_responses.setdefault("429", response_ref("TooManyRequests"))
    if has_path_id:
        all_responses.setdefault("404", response_ref("NotFound"))
    if body is not None:
        all_responses.setdefault("413", response_ref("PayloadTooLarge"))
    all_responses.setdefault("500", response_ref("InternalError"))

    result: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "description": description,
        "security": SECURITY[security],
    }
    if parameters:
        result["parameters"] = parameters
    if body is not None:
        media: dict[str, Any] = {"schema": body}
        if body_example is not None:
            media["example"] = body_example
        result["requestBody"] = {"required": body_required, "content": {"application/json": media}}
    result["responses"] = dict(sorted(all_responses.items()))
    return result
