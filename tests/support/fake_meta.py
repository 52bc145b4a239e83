"""A local fake of the Meta WhatsApp Cloud API and its webhooks, on 127.0.0.1.

It speaks the Cloud API's wire format: ``POST /{version}/{phone_number_id}/messages``
with a Bearer token and a JSON body. It responds with
``{"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id": "wamid..."}]}``
or a Graph API error ``{"error": {"message", "type", "code", "error_data", "fbtrace_id"}}``.
Every accepted message is recorded with its ``biz_opaque_callback_data``, the
idempotency key, so a test can check that each key went out once.

Behaviour is scripted per destination number, as in the Twilio fake (see
``tests.support.fake_messaging``): reject with an error code, fail with 5xx
a number of times, or answer late after recording the message.

It also plays Meta's side of the webhooks: inbound messages and statuses
inside ``{"object": "whatsapp_business_account", "entry": [...]}``, encoded
as Meta's servers encode them and signed with ``X-Hub-Signature-256``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import attrs
from aiohttp import web

from tests.support.fake_messaging import ScriptedMessagingApi, WebhookResult

ACCESS_TOKEN = "fake-meta-access-token"
APP_SECRET = "fake-meta-app-secret"
VERIFY_TOKEN = "fake-meta-verify-token"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE_NUMBER = "554130000000"
WABA_ID = "102290129340398"


def _wamid() -> str:
    return "wamid." + secrets.token_urlsafe(36)


def encode_like_meta(payload: Any) -> bytes:
    """Serialise ``payload`` compactly with every non-ASCII character as ``\\uXXXX``.

    Meta's payloads also escape ``/`` as ``\\/`` and ``@`` as ``\\u0040``
    (signature reports against Meta's webhooks show both). A receiver that
    re-serialises the JSON with another escaping computes a different HMAC,
    which is what this encoding lets a test catch.
    """
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    text = text.replace("/", "\\/").replace("@", "\\u0040")
    return text.encode("ascii")


def sign_body(body: bytes, app_secret: str = APP_SECRET) -> str:
    """Build ``X-Hub-Signature-256``: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


@attrs.frozen
class MetaMessage:
    """One message the fake accepted."""

    id: str
    phone_number_id: str
    to: str
    type: str
    text: str | None
    template: Mapping[str, Any] | None
    #: ``biz_opaque_callback_data``: the idempotency key.
    idempotency_key: str | None
    payload: Mapping[str, Any]


class FakeMeta(ScriptedMessagingApi):
    """The WhatsApp Cloud API messages endpoint with scripted failures, and its signed webhooks."""

    def __init__(
        self,
        *,
        access_token: str = ACCESS_TOKEN,
        app_secret: str = APP_SECRET,
        api_version: str = "v21.0",
    ) -> None:
        self.access_token = access_token
        self.app_secret = app_secret
        self.api_version = api_version
        self.messages: list[MetaMessage] = []

        app = web.Application()
        app.router.add_post("/{version}/{phone_number_id}/messages", self._send)
        super().__init__(app)

    # --- scripting ----------------------------------------------------------

    def not_on_whatsapp(self, to: str) -> None:
        """Reject messages to ``to`` with 131026, message undeliverable.

        The Cloud API usually accepts such a message and reports 131026 in a
        ``failed`` status webhook; build that one with :meth:`status_payload`.
        """
        self.reject(to, code=131026, message="Message undeliverable")

    def keys_sent(self) -> list[str | None]:
        return [message.idempotency_key for message in self.messages]

    def _destination(self, to: str) -> str:
        return _digits(to)

    # --- the API ------------------------------------------------------------

    async def _send(self, request: web.Request) -> web.Response:
        if request.match_info["version"] != self.api_version:
            return _error(400, 2500, "Unknown path components")
        expected = f"Bearer {self.access_token}"
        if not secrets.compare_digest(request.headers.get("Authorization", ""), expected):
            return _error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        try:
            payload = await request.json()
        except ValueError:
            return _error(400, 100, "Invalid parameter")

        to = str(payload.get("to") or "")
        script = self._script_for(to)
        failure = _validate(payload) or script.next_failure((500, 131000, "Something went wrong"))
        if failure is not None:
            self.attempts.append((to, failure[0]))
            return _error(*failure)

        message = self._record(request.match_info["phone_number_id"], payload)
        self.attempts.append((to, 200))
        if script.delay_seconds:
            await asyncio.sleep(script.delay_seconds)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": _digits(to)}],
                "messages": [{"id": message.id, "message_status": "accepted"}],
            }
        )

    def _record(self, phone_number_id: str, payload: dict[str, Any]) -> MetaMessage:
        text = payload.get("text") if isinstance(payload.get("text"), dict) else None
        message = MetaMessage(
            id=_wamid(),
            phone_number_id=phone_number_id,
            to=str(payload["to"]),
            type=str(payload["type"]),
            text=text.get("body") if text else None,
            template=payload.get("template"),
            idempotency_key=payload.get("biz_opaque_callback_data"),
            payload=payload,
        )
        self.messages.append(message)
        return message

    # --- webhooks -----------------------------------------------------------

    def inbound_payload(
        self,
        sender: str,
        body: str,
        *,
        context_id: str | None = None,
        profile_name: str = "Contato",
        timestamp: int | None = None,
        phone_number_id: str = PHONE_NUMBER_ID,
    ) -> dict[str, Any]:
        """Build the notification of a text message from WhatsApp id ``sender`` (digits)."""
        message: dict[str, Any] = {
            "from": sender,
            "id": _wamid(),
            "timestamp": str(timestamp if timestamp is not None else int(time.time())),
            "text": {"body": body},
            "type": "text",
        }
        if context_id:
            message["context"] = {"from": DISPLAY_PHONE_NUMBER, "id": context_id}
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": DISPLAY_PHONE_NUMBER,
                "phone_number_id": phone_number_id,
            },
            "contacts": [{"profile": {"name": profile_name}, "wa_id": sender}],
            "messages": [message],
        }
        return _notification(value)

    def status_payload(
        self,
        message: MetaMessage,
        status: str,
        *,
        timestamp: int | None = None,
        error_code: int | None = None,
    ) -> dict[str, Any]:
        """Build the notification of a status (sent, delivered, read, failed) of ``message``."""
        entry: dict[str, Any] = {
            "id": message.id,
            "status": status,
            "timestamp": str(timestamp if timestamp is not None else int(time.time())),
            "recipient_id": _digits(message.to),
        }
        if message.idempotency_key is not None:
            entry["biz_opaque_callback_data"] = message.idempotency_key
        if error_code is not None:
            entry["errors"] = [
                {
                    "code": error_code,
                    "title": f"Error {error_code}",
                    "message": f"Error {error_code}",
                    "error_data": {"details": f"Error {error_code}"},
                }
            ]
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": DISPLAY_PHONE_NUMBER,
                "phone_number_id": message.phone_number_id,
            },
            "statuses": [entry],
        }
        return _notification(value)

    async def post_webhook(
        self,
        target_url: str,
        payload: Any,
        *,
        app_secret: str | None = None,
        body: bytes | None = None,
    ) -> WebhookResult:
        """POST ``payload`` encoded like Meta and signed. ``body`` replaces the bytes after signing."""
        signed = encode_like_meta(payload)
        signature = sign_body(signed, app_secret or self.app_secret)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                target_url, data=body if body is not None else signed, headers=headers
            ) as response,
        ):
            return WebhookResult(response.status, await response.text(), response.content_type)


def _notification(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }


def _validate(payload: Any) -> tuple[int, int, str] | None:
    if not isinstance(payload, dict) or payload.get("messaging_product") != "whatsapp":
        return (400, 100, "The parameter messaging_product is required.")
    if not payload.get("to"):
        return (400, 100, "The parameter to is required.")
    kind = payload.get("type")
    if kind == "text":
        text = payload.get("text")
        if not isinstance(text, dict) or not text.get("body"):
            return (400, 100, "The parameter text['body'] is required.")
        return None
    if kind == "template":
        template = payload.get("template")
        if not isinstance(template, dict) or not template.get("name"):
            return (400, 100, "The parameter template['name'] is required.")
        language = template.get("language")
        if not isinstance(language, dict) or not language.get("code"):
            return (400, 100, "The parameter template['language']['code'] is required.")
        return None
    return (400, 100, f"Unsupported message type {kind!r} in this fake.")


def _digits(address: str) -> str:
    return "".join(character for character in address if character in "0123456789")


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "error": {
                "message": f"(#{code}) {message}",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": message},
                "fbtrace_id": secrets.token_urlsafe(12),
            }
        },
        status=status,
    )
