"""A local aiohttp server for tests that talk HTTP, bound to 127.0.0.1 on a free port.

Use it as an async context manager, or through the ``local_http_server``
fixture once a conftest lists this module in ``pytest_plugins``. Routes are
kept in a dict that one catch-all aiohttp route reads on every request,
because aiohttp freezes its own router when the server starts and tests often
add routes after that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Self

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LoopbackServer:
    """An aiohttp application served on 127.0.0.1 for the length of an ``async with`` block.

    TestServer binds port 0, so the operating system picks a free port.
    """

    def __init__(self, app: web.Application) -> None:
        self._server = TestServer(app, host="127.0.0.1")

    async def __aenter__(self) -> Self:
        await self._server.start_server()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._server.close()

    def url(self, path: str = "/") -> str:
        """Return the absolute URL of ``path`` on this server."""
        return str(self._server.make_url(path))

    @property
    def base_url(self) -> str:
        """The server's address without a trailing slash, for clients that take a base URL."""
        return self.url("").rstrip("/")


@attrs.frozen
class RecordedRequest:
    """Method, path (without the query) and headers of one request the server received."""

    method: str
    path: str
    headers: Mapping[str, str]


class LocalHttpServer(LoopbackServer):
    """An HTTP server on 127.0.0.1 that records every request and serves the routes a test adds."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._routes: dict[tuple[str, str], Handler] = {}

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        super().__init__(app)

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``path`` with ``handler`` for ``method``; a GET route also serves HEAD."""
        self._routes[(method.upper(), path)] = handler

    def serve_bytes(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        honour_range: bool = True,
    ) -> None:
        """Serve ``body`` at ``path`` for GET and HEAD, responding to ``Range`` with 206.

        With ``honour_range=False`` the server ignores ``Range`` and always sends
        the whole body with 200, as some servers do.
        """

        async def handler(request: web.Request) -> web.StreamResponse:
            return respond_with_range(request, body, content_type, honour_range=honour_range)

        self.route("GET", path, handler)

    def serve_text(self, path: str, text: str, *, content_type: str = "text/html") -> None:
        """Serve ``text`` encoded as UTF-8 at ``path`` for GET and HEAD."""
        self.serve_bytes(path, text.encode("utf-8"), content_type=f"{content_type}; charset=utf-8")

    def requests_for(self, method: str, path: str) -> list[RecordedRequest]:
        """Return the recorded requests with this method and path, oldest first."""
        return [
            request
            for request in self.requests
            if request.method == method.upper() and request.path == path
        ]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(method=request.method, path=request.path, headers=dict(request.headers))
        )

        handler = self._routes.get((request.method, request.path))
        if handler is None and request.method == "HEAD":
            # aiohttp sends the headers of a HEAD response without its body.
            handler = self._routes.get(("GET", request.path))
        if handler is not None:
            return await handler(request)

        if any(path == request.path for _method, path in self._routes):
            return web.Response(status=405, text="method not allowed")
        return web.Response(status=404, text="not found")


def respond_with_range(
    request: web.Request,
    body: bytes,
    content_type: str = "application/octet-stream",
    *,
    honour_range: bool = True,
) -> web.Response:
    """Build the response to a GET or HEAD for ``body``, with 206 or 416 for a ``Range`` header."""
    # Content-Type goes in the headers because aiohttp's content_type argument rejects a charset.
    headers = {"Accept-Ranges": "bytes", "Content-Type": content_type}
    if not honour_range or "Range" not in request.headers:
        return web.Response(body=body, headers=headers)

    start, stop, _step = request.http_range.indices(len(body))
    if start >= len(body):
        return web.Response(status=416, headers={"Content-Range": f"bytes */{len(body)}"})

    part = body[start:stop]
    headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(body)}"
    return web.Response(status=206, body=part, headers=headers)


async def respond_truncated(request: web.Request, body: bytes, sent: int) -> web.StreamResponse:
    """Send the first ``sent`` bytes of ``body``, then drop the connection.

    Content-Length announces all of ``body``, so the client sees a server that
    loses the connection halfway through a download.
    """
    response = web.StreamResponse(headers={"Accept-Ranges": "bytes"})
    response.content_length = len(body)
    response.content_type = "application/octet-stream"
    await response.prepare(request)
    await response.write(body[:sent])

    transport = request.transport
    if transport is not None:
        transport.close()
    return response


@pytest.fixture
async def local_http_server() -> AsyncIterator[LocalHttpServer]:
    """A started LocalHttpServer, closed after the test."""
    async with LocalHttpServer() as server:
        yield server
