"""Check real HTTP responses against the OpenAPI document the application serves.

A test sends a request, then asks ``OpenApiContract.errors`` whether the
status is declared for that operation and the body validates against the
declared schema (JSON Schema 2020-12, references resolved in the document).
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:garimpo:openapi"


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class OpenApiContract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(DOCUMENT_URI, resource)
        self._templates = [
            (template, re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"))
            for template in document["paths"]
        ]

    def template_of(self, path: str) -> str:
        """The documented path template that ``path`` (without its query string) matches."""
        path = path.split("?", 1)[0]
        matches = [template for template, pattern in self._templates if pattern.match(path)]
        assert matches, f"{path} matches no documented path"
        # A literal segment beats a parameter: /v1/host/plans over /v1/host/{x}.
        return min(matches, key=lambda template: template.count("{"))

    def _resolve(self, ref: str) -> Any:
        node: Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(
        self, method: str, path: str, status: int, content_type: str, body: Any
    ) -> list[str]:
        """Why the response does not match the document; empty when it does."""
        template = self.template_of(path)
        operation = self.document["paths"][template].get(method.lower())
        if operation is None:
            return [f"{method} {template} is not documented"]
        if str(status) not in operation["responses"]:
            return [f"{method} {template} returned {status}, which the document does not declare"]

        response = operation["responses"][str(status)]
        pointer = "/" + "/".join(
            _escape(part) for part in ("paths", template, method.lower(), "responses", str(status))
        )
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#")
            response = self._resolve(response["$ref"])
        if content_type not in response["content"]:
            declared = ", ".join(response["content"])
            return [f"{method} {template} {status} returned {content_type}; declared: {declared}"]

        validator = Draft202012Validator(
            {"$ref": f"{DOCUMENT_URI}#{pointer}/content/{_escape(content_type)}/schema"},
            registry=self._registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(body)
        ]


def json_request_example(operation: dict[str, Any]) -> Any:
    """Return the JSON request example of an operation, or None when it takes no JSON body.

    Provider webhooks take forms (Twilio, SendGrid Inbound Parse): the route
    walkers call them without a body, which their signature check rejects.
    """
    body = operation.get("requestBody")
    if body is None or "application/json" not in body["content"]:
        return None
    return body["content"]["application/json"].get("example", {})
