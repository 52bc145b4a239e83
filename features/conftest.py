"""Fixtures of the BDD features: the real HTTP API over a real container, driven synchronously.

pytest-bdd steps are plain functions, so ``garimpo_api`` owns an event loop
and runs every coroutine (ingestion, tenant creation, HTTP requests) on it.
The database and Redis fixtures come from ``tests/support/fixtures.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from application.ingestion import IngestMonth
from domain.ingestion import RunSummary
from entrypoints.container import Container, build_container, provide
from entrypoints.http.auth import API_KEY_HEADER
from entrypoints.http.server import build_app
from entrypoints.progress import LogProgress
from entrypoints.settings import Settings

T = TypeVar("T")


@attrs.frozen
class ApiResponse:
    """Status, content type and decoded JSON body of one HTTP response."""

    status: int
    content_type: str
    body: Any
    #: Response headers; names match in any case.
    headers: Mapping[str, str] = attrs.field(factory=CIMultiDict)


class GarimpoApi:
    """The API app built by ``build_app`` over a container, served on 127.0.0.1.

    Every method blocks until its coroutine finishes on the fixture's loop.
    """

    def __init__(self, app_settings: Settings) -> None:
        self._loop = asyncio.new_event_loop()
        self.container: Container = build_container(app_settings)
        self._client = self.run(self._start_client())

    async def _start_client(self) -> TestClient[Any, Any]:
        # TestClient binds to the running loop, so it is built inside it.
        # Starting the server runs the app's cleanup_ctx, which opens the
        # container's engine, Redis client and HTTP client.
        client: TestClient[Any, Any] = TestClient(
            TestServer(build_app(self.container), host="127.0.0.1")
        )
        await client.start_server()
        return client

    def run(self, awaitable: Awaitable[T]) -> T:
        return self._loop.run_until_complete(awaitable)

    def close(self) -> None:
        try:
            self.run(self._client.close())
            self.run(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()

    def ingest(self, folder: Path) -> RunSummary:
        """Ingest the dump in ``folder`` through the container's ``IngestMonth``."""

        async def ingest() -> RunSummary:
            use_case: IngestMonth = await provide(self.container.ingest_month)
            return await use_case(str(folder), LogProgress())

        return self.run(ingest())

    def create_tenant_with_key(self, name: str) -> str:
        """Create a tenant and return its API key in clear."""

        async def create() -> str:
            api_keys = await provide(self.container.provisioning)
            _tenant_id, key = await api_keys.create_tenant_with_key(name)
            return key

        return self.run(create())

    def post_json(
        self, path: str, body: Mapping[str, Any], *, api_key: str | None = None
    ) -> ApiResponse:
        headers = {API_KEY_HEADER: api_key} if api_key is not None else {}

        async def post() -> ApiResponse:
            async with self._client.post(path, json=body, headers=headers) as response:
                # content_type=None also decodes application/problem+json.
                decoded = await response.json(content_type=None)
                return ApiResponse(response.status, response.content_type, decoded)

        return self.run(post())

    def get(self, path: str, *, api_key: str | None = None) -> ApiResponse:
        headers = {API_KEY_HEADER: api_key} if api_key is not None else {}

        async def get() -> ApiResponse:
            async with self._client.get(path, headers=headers) as response:
                decoded = await response.json(content_type=None)
                return ApiResponse(
                    response.status, response.content_type, decoded, CIMultiDict(response.headers)
                )

        return self.run(get())

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> ApiResponse:
        """Any method with any headers (a bearer token, X-Tenant-ID) and an optional JSON body."""

        async def send() -> ApiResponse:
            async with self._client.request(
                method, path, json=body, headers=dict(headers or {})
            ) as response:
                decoded = await response.json(content_type=None)
                return ApiResponse(
                    response.status, response.content_type, decoded, CIMultiDict(response.headers)
                )

        return self.run(send())

    def post_bytes(
        self, path: str, data: bytes, *, headers: Mapping[str, str] | None = None
    ) -> ApiResponse:
        """POST ``data`` exactly as given, for a signed webhook body."""

        async def send() -> ApiResponse:
            sent = {"Content-Type": "application/json", **(headers or {})}
            async with self._client.post(path, data=data, headers=sent) as response:
                decoded = await response.json(content_type=None)
                return ApiResponse(
                    response.status, response.content_type, decoded, CIMultiDict(response.headers)
                )

        return self.run(send())


@pytest.fixture
def garimpo_api(settings: Settings) -> Iterator[GarimpoApi]:  # noqa: F811 - the fixture imported above
    api = GarimpoApi(settings)
    try:
        yield api
    finally:
        api.close()
