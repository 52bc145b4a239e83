"""Outbound webhook POSTs over aiohttp, to checked addresses only.

The connector's resolver is :class:`GuardedResolver`: it resolves the host
name once with ``getaddrinfo``, refuses the whole request when any address
is one we never call (``domain.webhooks.address_refusal``), and hands aiohttp
exactly the addresses it checked. aiohttp then connects to those addresses
while TLS still verifies the certificate against the host name, so a second
DNS answer cannot redirect the connection after the check. URLs that name an
IP address skip resolution and are checked by ``check_target_url`` instead.

Redirects are not followed (a 3xx counts as a failed attempt), proxies from
the environment are ignored, and DNS answers are not cached, so every new
connection is checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from application.webhooks import WebhookTransportError
from domain.errors import DomainError
from domain.webhooks import SECRET_PREFIX, WebhookTargetRefused, address_refusal, check_target_url

#: Seconds to open the TCP and TLS connection, within the whole timeout.
CONNECT_TIMEOUT_SECONDS = 5.0

AddressInfo = tuple[Any, ...]
GetAddrInfo = Callable[[str, int, int], Awaitable[list[AddressInfo]]]


def new_webhook_secret() -> str:
    """Generate a ``whsec_`` secret from 32 random bytes; the tenant sees it once."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def _system_getaddrinfo(host: str, port: int, family: int) -> list[AddressInfo]:
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)


class GuardedResolver(AbstractResolver):
    """Resolves a host name once and returns its addresses only when every one may be called."""

    def __init__(self, *, allow_private: bool, getaddrinfo: GetAddrInfo | None = None) -> None:
        self._allow_private = allow_private
        self._getaddrinfo = getaddrinfo or _system_getaddrinfo

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            infos = await self._getaddrinfo(host, port, family)
        except socket.gaierror as error:
            raise WebhookTransportError(
                f"O host '{host}' não foi encontrado no DNS ({error.strerror})."
            ) from None

        results: list[ResolveResult] = []
        for info_family, _type, proto, _name, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            reason = address_refusal(address, allow_private=self._allow_private)
            if reason is not None:
                # One forbidden address rejects the host, because the connection
                # may try any of the addresses in turn.
                raise WebhookTargetRefused(
                    f"O host '{host}' aponta para {address}, que {reason}; webhooks não são "
                    "enviados para esse endereço."
                )
            results.append(
                ResolveResult(
                    hostname=host,
                    host=str(address),
                    port=int(sockaddr[1]),
                    family=info_family,
                    proto=proto,
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                )
            )
        if not results:
            raise WebhookTransportError(f"O host '{host}' não tem endereço no DNS.")
        return results

    async def close(self) -> None:
        return None


async def webhook_session_resource(
    *, allow_private: bool, timeout_seconds: float
) -> AsyncIterator[aiohttp.ClientSession]:
    """Open the process's client session for webhooks, with the guarded resolver, until closed."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=allow_private),
        use_dns_cache=False,
        limit=50,
    )
    timeout = aiohttp.ClientTimeout(
        total=timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds)
    )
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False, auto_decompress=False
    ) as session:
        yield session


class AiohttpWebhookTransport:
    def __init__(
        self, session: aiohttp.ClientSession, *, allow_private: bool, timeout_seconds: float
    ) -> None:
        self._session = session
        self._allow_private = allow_private
        self._timeout_seconds = timeout_seconds

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        # Checked on every send as well as at registration: the settings may
        # have changed since, and an address in the URL never reaches the resolver.
        try:
            check_target_url(url, allow_private=self._allow_private)
        except WebhookTargetRefused:
            raise
        except DomainError as invalid:
            raise WebhookTargetRefused(invalid.detail) from None

        try:
            async with self._session.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                return response.status
        except TimeoutError:
            raise WebhookTransportError(
                f"O receptor não respondeu em {self._timeout_seconds:g} segundos."
            ) from None
        except aiohttp.ClientConnectorError as error:
            raise WebhookTransportError(
                f"Não foi possível conectar ao receptor ({error.os_error.strerror or error})."
            ) from None
        except aiohttp.ClientError as error:
            raise WebhookTransportError(
                f"A conexão com o receptor falhou ({type(error).__name__})."
            ) from None
