"""What the fakes of Twilio and the Meta Cloud API share: per-destination scripts and webhook results.

A script tells the fake what to do with the messages to one destination:
reject them with a provider error, fail a number of times with HTTP 500
before accepting, or answer late. A late answer records the message first,
as the provider would have queued it, so a client that gives up or dies
mid-send leaves a message that went out.
"""

from __future__ import annotations

import attrs
from aiohttp import web

from tests.support.http_server import LoopbackServer

#: (HTTP status, provider error code, message) of a request the fake does not accept.
Failure = tuple[int, int, str]


@attrs.define
class Script:
    """What the fake does with messages to one destination."""

    #: The failure returned instead of accepting the message.
    reject: Failure | None = None
    #: Attempts still to fail with HTTP 500 before one is accepted.
    failures_left: int = 0
    #: Seconds to wait, after recording the message, before responding.
    delay_seconds: float = 0.0

    def next_failure(self, server_error: Failure) -> Failure | None:
        """Return the failure for the next request, counting down ``failures_left``."""
        if self.reject is not None:
            return self.reject
        if self.failures_left > 0:
            self.failures_left -= 1
            return server_error
        return None


@attrs.frozen
class WebhookResult:
    status: int
    text: str
    content_type: str


class ScriptedMessagingApi(LoopbackServer):
    """A fake messaging API on 127.0.0.1 whose answers are scripted per destination."""

    def __init__(self, app: web.Application) -> None:
        #: Every send request as (destination, HTTP status returned), accepted or not.
        self.attempts: list[tuple[str, int]] = []
        self._scripts: dict[str, Script] = {}
        super().__init__(app)

    def reject(self, to: str, *, code: int, status: int = 400, message: str = "") -> None:
        """Answer every message to ``to`` with the provider's error ``code`` and HTTP ``status``."""
        self._script(to).reject = (status, code, message or f"Error {code}")

    def fail_times(self, to: str, times: int) -> None:
        """Answer the next ``times`` messages to ``to`` with HTTP 500, then accept."""
        self._script(to).failures_left = times

    def delay(self, to: str, seconds: float) -> None:
        """Record messages to ``to`` at once, but answer ``seconds`` later."""
        self._script(to).delay_seconds = seconds

    def _destination(self, to: str) -> str:
        """Return the key that scripts for ``to`` are stored under."""
        return to

    def _script(self, to: str) -> Script:
        return self._scripts.setdefault(self._destination(to), Script())

    def _script_for(self, to: str) -> Script:
        """Return the script that applies to a request for ``to``, or an empty one."""
        return self._scripts.get(self._destination(to)) or Script()
