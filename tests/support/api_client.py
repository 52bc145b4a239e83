"""An HTTP client for integration tests that checks every response against the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import attrs
from aiohttp.test_utils import TestClient

from entrypoints.http.app import OPENAPI_DOCUMENT_KEY
from tests.support.openapi_contract import OpenApiContract


@attrs.frozen
class ApiResult:
    status: int
    body: Any

    @property
    def data(self) -> Any:
        assert self.status < 400, f"{self.status}: {self.body}"
        return self.body["data"]


class ContractClient:
    """Sends requests with an API key and asserts that each response matches the document."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.contract = OpenApiContract(client.server.app[OPENAPI_DOCUMENT_KEY])

    async def call(
        self,
        method: str,
        path: str,
        key: str | None,
        body: Any = None,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> ApiResult:
        sent = dict(headers or {})
        if key is not None:
            sent["X-API-Key"] = key
        if data is not None:
            sent["Content-Type"] = "application/json"
        async with self.client.request(
            method, path, json=body, data=data, headers=sent
        ) as response:
            decoded = json.loads(await response.text())
            content_type = response.content_type

        errors = self.contract.errors(method, path, response.status, content_type, decoded)
        assert errors == [], f"{method} {path} -> {response.status}: {errors}"
        return ApiResult(response.status, decoded)
