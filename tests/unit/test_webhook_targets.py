"""Where webhooks may go: URL parsing, the guarded resolver, and the transport against 127.0.0.1.

Refused addresses appear here only as strings, rejected before any
connection is attempted. The only server contacted is the local receiver on
127.0.0.1, with private targets allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.webhooks.transport import AiohttpWebhookTransport, GuardedResolver
from application.webhooks import WebhookTransportError
from domain.webhooks import (
    InvalidWebhookEndpoint,
    WebhookTargetRefused,
    address_refusal,
    check_target_url,
)
from tests.support.http_server import LocalHttpServer

# --- URL parsing, no network ---------------------------------------------------------


def test_https_host_name_is_accepted() -> None:
    target = check_target_url("https://crm.exemplo.com.br/webhooks?x=1", allow_private=False)

    assert target.scheme == "https"
    assert target.host == "crm.exemplo.com.br"
    assert target.port == 443
    assert target.address is None


@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/hook",
        "https://172.16.5.4/hook",
        "https://192.168.0.10/hook",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://[fc00::1]/hook",
        "https://[fd12:3456::1]/hook",
        "https://[fe80::1]/hook",
        "https://169.254.10.10/hook",
        "https://100.64.0.1/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://localhost/hook",
        "https://api.localhost/hook",
    ],
)
def test_private_targets_are_refused_by_default(url: str) -> None:
    with pytest.raises(WebhookTargetRefused) as refused:
        check_target_url(url, allow_private=False)

    assert refused.value.code == "webhook_target_not_allowed"
    assert refused.value.field == "url"


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest",
        "https://100.100.100.200/latest",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://0.0.0.0/hook",
        "https://[::]/hook",
        "https://224.0.0.1/hook",
    ],
)
def test_metadata_and_unspecified_are_refused_even_when_allowed(url: str) -> None:
    with pytest.raises(WebhookTargetRefused):
        check_target_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/hook",
        "https://127.1/hook",
        "https://0x7f.0.0.1/hook",
        "https://017700000001/hook",
    ],
)
def test_non_canonical_ip_forms_are_invalid(url: str) -> None:
    with pytest.raises(InvalidWebhookEndpoint, match="forma canônica"):
        check_target_url(url, allow_private=True)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://crm.exemplo.com.br/hook", "https://"),
        ("ftp://crm.exemplo.com.br/hook", "https://"),
        ("https://user:senha@crm.exemplo.com.br/hook", "usuário e senha"),
        ("https:///hook", "não tem host"),
        ("https://crm_exemplo.com.br/hook", "nome de domínio válido"),
        ("https://[fe80::1%25eth0]/hook", "zona"),
        ("https://crm.exemplo.com.br:99999/hook", "inválido"),
        ("", "obrigatório"),
        ("https://exemplo.com.br/" + "a" * 2050, "no máximo"),
    ],
)
def test_malformed_urls_are_invalid(url: str, message: str) -> None:
    with pytest.raises(InvalidWebhookEndpoint, match=message):
        check_target_url(url, allow_private=False)


def test_allow_private_opens_loopback_and_private() -> None:
    loopback = check_target_url("http://127.0.0.1:8080/hook", allow_private=True)
    named = check_target_url("http://localhost:9000/hook", allow_private=True)
    private = check_target_url("https://10.1.2.3/hook", allow_private=True)

    assert loopback.address == ipaddress.ip_address("127.0.0.1")
    assert loopback.port == 8080
    assert named.host == "localhost"
    assert private.address == ipaddress.ip_address("10.1.2.3")


def test_plain_http_only_for_loopback_when_allowed() -> None:
    with pytest.raises(InvalidWebhookEndpoint, match="https://"):
        check_target_url("http://10.1.2.3/hook", allow_private=True)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.1", "rede privada"),
        ("127.0.0.1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "rede privada"),
        ("169.254.169.254", "metadados"),
        ("0.0.0.0", "não especificado"),
        ("100.64.1.1", "não é um endereço público"),
    ],
)
def test_address_refusal_names_the_reason(address: str, reason: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address), allow_private=False)

    assert refusal is not None
    assert reason in refusal


def test_global_address_is_allowed() -> None:
    assert address_refusal(ipaddress.ip_address("8.8.8.8"), allow_private=False) is None


# --- the resolver, with a fake getaddrinfo that returns strings only ------------------


def fake_getaddrinfo(*addresses: str, calls: list[str] | None = None) -> Any:
    async def getaddrinfo(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
        if calls is not None:
            calls.append(host)
        infos = []
        for address in addresses:
            if ":" in address:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return infos

    return getaddrinfo


async def test_resolver_refuses_private_answer() -> None:
    resolver = GuardedResolver(
        allow_private=False, getaddrinfo=fake_getaddrinfo("8.8.8.8", "10.0.0.7")
    )

    with pytest.raises(WebhookTargetRefused, match="10.0.0.7"):
        await resolver.resolve("intranet.exemplo.invalid", 443)


async def test_resolver_refuses_metadata_even_when_allowed() -> None:
    resolver = GuardedResolver(allow_private=True, getaddrinfo=fake_getaddrinfo("fd00:ec2::254"))

    with pytest.raises(WebhookTargetRefused, match="metadados"):
        await resolver.resolve("metadados.exemplo.invalid", 443)


async def test_resolver_returns_checked_addresses() -> None:
    resolver = GuardedResolver(allow_private=True, getaddrinfo=fake_getaddrinfo("127.0.0.1", "::1"))

    results = await resolver.resolve("receptor.exemplo.invalid", 8443)

    assert [result["host"] for result in results] == ["127.0.0.1", "::1"]
    assert {result["port"] for result in results} == {8443}
    assert {result["hostname"] for result in results} == {"receptor.exemplo.invalid"}


async def test_resolver_reports_unknown_host() -> None:
    async def not_found(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    resolver = GuardedResolver(allow_private=False, getaddrinfo=not_found)

    with pytest.raises(WebhookTransportError, match="não foi encontrado"):
        await resolver.resolve("nada.exemplo.invalid", 443)


# --- the transport, against the local receiver only -------------------------------------


def transport_over(
    resolver: GuardedResolver, *, allow_private: bool, timeout: float = 5.0
) -> tuple[AiohttpWebhookTransport, aiohttp.ClientSession]:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False),
        timeout=aiohttp.ClientTimeout(total=timeout),
    )
    transport = AiohttpWebhookTransport(
        session, allow_private=allow_private, timeout_seconds=timeout
    )
    return transport, session


async def test_transport_posts_to_the_local_receiver(local_http_server: LocalHttpServer) -> None:
    received: list[bytes] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=204)

    local_http_server.route("POST", "/hook", receive)
    transport, session = transport_over(GuardedResolver(allow_private=True), allow_private=True)
    async with session:
        status = await transport.post(
            local_http_server.url("/hook"), b'{"ok":true}', {"Content-Type": "application/json"}
        )

    assert status == 204
    assert received == [b'{"ok":true}']


async def test_transport_returns_error_status_and_ignores_redirects(
    local_http_server: LocalHttpServer,
) -> None:
    async def failing(request: web.Request) -> web.Response:
        return web.Response(status=500)

    async def redirecting(request: web.Request) -> web.Response:
        raise web.HTTPFound(local_http_server.url("/elsewhere"))

    local_http_server.route("POST", "/failing", failing)
    local_http_server.route("POST", "/redirect", redirecting)
    transport, session = transport_over(GuardedResolver(allow_private=True), allow_private=True)
    async with session:
        failed = await transport.post(local_http_server.url("/failing"), b"{}", {})
        redirected = await transport.post(local_http_server.url("/redirect"), b"{}", {})

    assert failed == 500
    assert redirected == 302
    assert local_http_server.requests_for("POST", "/elsewhere") == []
    assert local_http_server.requests_for("GET", "/elsewhere") == []


async def test_transport_times_out(local_http_server: LocalHttpServer) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(status=200)

    local_http_server.route("POST", "/slow", slow)
    transport, session = transport_over(
        GuardedResolver(allow_private=True), allow_private=True, timeout=0.3
    )
    async with session:
        with pytest.raises(WebhookTransportError, match="não respondeu"):
            await transport.post(local_http_server.url("/slow"), b"{}", {})


async def test_transport_refuses_loopback_without_the_setting(
    local_http_server: LocalHttpServer,
) -> None:
    transport, session = transport_over(GuardedResolver(allow_private=False), allow_private=False)
    async with session:
        with pytest.raises(WebhookTargetRefused):
            await transport.post(local_http_server.url("/hook"), b"{}", {})

    assert local_http_server.requests == []


async def test_transport_refuses_a_name_before_connecting() -> None:
    calls: list[str] = []
    resolver = GuardedResolver(
        allow_private=False, getaddrinfo=fake_getaddrinfo("192.168.1.20", calls=calls)
    )
    transport, session = transport_over(resolver, allow_private=False)
    async with session:
        with pytest.raises(WebhookTargetRefused, match="192.168.1.20"):
            await transport.post("https://roteador.exemplo.invalid/hook", b"{}", {})

    assert calls == ["roteador.exemplo.invalid"]


async def test_transport_connects_to_the_address_it_checked(
    local_http_server: LocalHttpServer,
) -> None:
    """The name resolves once, to the receiver's address, and the request goes there."""
    hosts: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        hosts.append(request.headers["Host"])
        return web.Response(status=200)

    local_http_server.route("POST", "/hook", receive)
    port = int(local_http_server.url("/").split(":")[-1].strip("/"))
    calls: list[str] = []
    resolver = GuardedResolver(
        allow_private=True, getaddrinfo=fake_getaddrinfo("127.0.0.1", calls=calls)
    )
    transport, session = transport_over(resolver, allow_private=True)
    async with session:
        status = await transport.post(f"http://receptor.localhost:{port}/hook", b"{}", {})

    assert status == 200
    assert calls == ["receptor.localhost"]
    assert hosts == [f"receptor.localhost:{port}"]
