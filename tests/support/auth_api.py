"""The real API for tests of login, sessions and users, with every response checked against OpenAPI.

``AuthApi`` sends requests with an access token, an API key or nothing, and
asserts that the status is declared for the route and the body matches the
schema. ``auth_container`` builds the application's container with the
per-address login throttle under a key prefix of its own, so the failed
logins of one test (all from 127.0.0.1) never throttle another.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp.test_utils import TestClient
from dependency_injector import providers

from adapters.redis.login_attempts import RedisLoginAttempts
from adapters.sandbox.email import SandboxEmailSender
from application.ports import EmailMessage
from entrypoints.container import Container, build_container, provide
from entrypoints.http.app import OPENAPI_DOCUMENT_KEY
from entrypoints.http.auth import TENANT_HEADER
from entrypoints.settings import Settings
from tests.support.openapi_contract import OpenApiContract


@attrs.frozen
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def data(self) -> Any:
        assert self.status < 400, f"{self.status}: {self.body}"
        return self.body["data"]

    @property
    def code(self) -> str:
        assert self.status >= 400, f"{self.status}: {self.body}"
        code: str = self.body["code"]
        return code


def auth_container(settings: Settings) -> Container:
    """The application's container, with a login throttle that no other test shares."""
    container = build_container(settings)
    container.login_attempts.override(
        providers.Singleton(
            RedisLoginAttempts,
            container.redis,
            prefix=f"garimpo-test:{uuid.uuid4().hex}:login_failures:",
        )
    )
    return container


async def wait_for_auth_cache(container: Container) -> None:
    """Wait until the auth cache follows the invalidation channel, so it really caches."""
    auth_state = await provide(container.auth_state)
    for _ in range(100):
        if auth_state.subscribed:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the auth cache never subscribed to its Redis channel")


async def outbox(container: Container) -> SandboxEmailSender:
    sender: SandboxEmailSender = await provide(container.email_sender)
    return sender


async def last_email(container: Container, address: str, purpose: str) -> EmailMessage:
    messages = (await outbox(container)).sent_to(address, purpose=purpose)
    assert messages, f"no {purpose} e-mail was sent to {address}"
    return messages[-1]


def code_in(message: EmailMessage) -> str:
    """The single-use code of an invitation or reset e-mail: the line standing alone after a blank one."""
    lines = message.text.splitlines()
    for before, line, after in zip(lines, lines[1:], lines[2:], strict=False):
        if not before and not after and line and " " not in line:
            return line
    raise AssertionError(f"no code in the e-mail: {message.text!r}")


class AuthApi:
    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.contract = OpenApiContract(client.server.app[OPENAPI_DOCUMENT_KEY])

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        key: str | None = None,
        tenant: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if key is not None:
            sent["X-API-Key"] = key
        if tenant is not None:
            sent[TENANT_HEADER] = tenant

        async with self.client.request(method, path, json=body, headers=sent) as response:
            text = await response.text()
            status = response.status
            content_type = response.content_type
            received = dict(response.headers)

        if status == 204:
            assert text == "", f"{method} {path} answered 204 with a body: {text!r}"
            template = self.contract.template_of(path)
            declared = self.contract.document["paths"][template][method.lower()]["responses"]
            assert "204" in declared, f"{method} {template} does not declare 204"
            return Reply(status, None, received)

        decoded = json.loads(text)
        errors = self.contract.errors(method, path, status, content_type, decoded)
        assert errors == [], f"{method} {path} -> {status}: {errors}"
        return Reply(status, decoded, received)

    async def login(self, email: str, password: str) -> dict[str, Any]:
        reply = await self.call("POST", "/v1/auth/login", {"email": email, "password": password})
        assert reply.status == 200, reply.body
        session: dict[str, Any] = reply.data
        return session
