"""A local fake of Twilio's Messages API and webhooks, on 127.0.0.1.

It speaks Twilio's wire format: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``
with a form-encoded body and HTTP Basic auth (Account SID, auth token).
It responds with a JSON message resource (``sid`` "SM...", ``status``) or a JSON
error (``code``, ``message``, ``more_info``, ``status``). Every accepted
message is recorded with the idempotency key its ``StatusCallback`` URL
carries (the ``key`` query parameter), so a test can check that each key
went out once.

Behaviour is scripted per destination number (see
``tests.support.fake_messaging``): reject with an error code, fail with 5xx
a number of times before accepting, or answer late.

The fake also plays Twilio's side of the webhooks: it builds inbound
messages and status callbacks as Twilio posts them, signs them with
``X-Twilio-Signature`` over a public URL, and posts them to an app.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import secrets
from collections.abc import Mapping
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import attrs
from aiohttp import web
from twilio.request_validator import RequestValidator
from yarl import URL

from tests.support.fake_messaging import Script, ScriptedMessagingApi, WebhookResult

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
MESSAGING_SERVICE_SID = "MG" + "0" * 31 + "2"


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@attrs.frozen
class TwilioMessage:
    """One message the fake accepted."""

    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    content_sid: str | None
    content_variables: str | None
    status_callback: str | None
    #: The ``key`` query parameter of ``StatusCallback``.
    idempotency_key: str | None
    form: Mapping[str, str]


class FakeTwilio(ScriptedMessagingApi):
    """Twilio's Messages API with scripted failures, and its signed webhooks."""

    def __init__(self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        #: Messages accepted, oldest first.
        self.messages: list[TwilioMessage] = []

        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account_sid}/Messages.json", self._create)
        super().__init__(app)

    # --- scripting ----------------------------------------------------------

    def not_on_whatsapp(self, to: str) -> None:
        """Reject messages to ``to`` with 63024, invalid message recipient.

        Twilio often accepts such a message and reports 63024 later, in a
        status callback; build that one with :meth:`status_callback`.
        """
        self.reject(to, code=63024, message="Invalid message recipient")

    def keys_sent(self) -> list[str | None]:
        """Return the idempotency key of every accepted message, oldest first."""
        return [message.idempotency_key for message in self.messages]

    def _script_for(self, to: str) -> Script:
        # ``whatsapp:+55...`` scripts the WhatsApp channel only; a bare number
        # scripts both channels.
        return self._scripts.get(to) or self._scripts.get(_bare(to)) or Script()

    # --- the API ------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        if request.match_info["account_sid"] != self.account_sid or not self._authorized(request):
            return _error(401, 20003, "Authenticate")

        form = {
            key: value for key, value in (await request.post()).items() if isinstance(value, str)
        }
        to = form.get("To", "")
        script = self._script_for(to)

        failure = self._validate(form) or script.next_failure((500, 20500, "Internal Server Error"))
        if failure is not None:
            self.attempts.append((to, failure[0]))
            return _error(*failure)

        message = self._record(form)
        self.attempts.append((to, 201))
        if script.delay_seconds:
            await asyncio.sleep(script.delay_seconds)
        return web.json_response(self._resource(message), status=201)

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return secrets.compare_digest(request.headers.get("Authorization", ""), f"Basic {expected}")

    @staticmethod
    def _validate(form: Mapping[str, str]) -> tuple[int, int, str] | None:
        if not form.get("To"):
            return (400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return (400, 21603, "A 'From' phone number is required.")
        if not form.get("Body") and not form.get("ContentSid") and not form.get("MediaUrl"):
            return (400, 21602, "Message body is required.")
        to, sender = form["To"], form.get("From")
        if sender and to.startswith("whatsapp:") != sender.startswith("whatsapp:"):
            return (
                400,
                21910,
                "Invalid From and To pair. From and To should be of the same channel.",
            )
        return None

    def _record(self, form: Mapping[str, str]) -> TwilioMessage:
        callback = form.get("StatusCallback")
        keys = parse_qs(urlsplit(callback).query).get("key") if callback else None
        message = TwilioMessage(
            sid=_sid("SM"),
            to=form["To"],
            from_=form.get("From"),
            messaging_service_sid=form.get("MessagingServiceSid"),
            body=form.get("Body"),
            content_sid=form.get("ContentSid"),
            content_variables=form.get("ContentVariables"),
            status_callback=callback,
            idempotency_key=keys[0] if keys else None,
            form=dict(form),
        )
        self.messages.append(message)
        return message

    def _resource(self, message: TwilioMessage) -> dict[str, Any]:
        now = format_datetime(_utc_now(), usegmt=True)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": message.body or "",
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            # With a Messaging Service Twilio answers "accepted" and picks the sender later.
            "status": "accepted" if message.messaging_service_sid else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": message.to,
            "uri": uri,
        }

    # --- webhooks -----------------------------------------------------------

    def inbound_message(
        self,
        sender: str,
        recipient: str,
        body: str,
        *,
        wa_id: str | None = None,
        profile_name: str | None = None,
        opt_out_type: str | None = None,
        replied_to: str | None = None,
    ) -> dict[str, str]:
        """Build the form of an inbound message, a WhatsApp one when ``sender`` starts with ``whatsapp:``."""
        sid = _sid("SM")
        form = {
            "ToCountry": "BR",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "To": recipient,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        if sender.startswith("whatsapp:"):
            form["WaId"] = wa_id or _bare(sender).removeprefix("+")
            form["ProfileName"] = profile_name or "Contato"
            form["MessageType"] = "text"
        if opt_out_type:
            form["OptOutType"] = opt_out_type
        if replied_to:
            form["OriginalRepliedMessageSid"] = replied_to
            form["OriginalRepliedMessageSender"] = recipient
        return form

    def status_callback(
        self, message: TwilioMessage, status: str, *, error_code: str | None = None
    ) -> tuple[str, dict[str, str]]:
        """Build the path with query and the form of a status callback for ``message``."""
        assert message.status_callback, "the message was sent without StatusCallback"
        parts = urlsplit(message.status_callback)
        form = {
            "SmsSid": message.sid,
            "SmsStatus": status,
            "MessageStatus": status,
            "To": message.to,
            "MessageSid": message.sid,
            "AccountSid": self.account_sid,
            "From": message.from_ or "whatsapp:+5541999990000",
            "ApiVersion": "2010-04-01",
        }
        if message.messaging_service_sid:
            form["MessagingServiceSid"] = message.messaging_service_sid
        if error_code:
            form["ErrorCode"] = error_code
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return path, form

    def sign(
        self, public_url: str, form: Mapping[str, str], *, auth_token: str | None = None
    ) -> str:
        """Compute ``X-Twilio-Signature`` as Twilio does, over the public URL and the form."""
        validator = RequestValidator(auth_token or self.auth_token)
        return validator.compute_signature(public_url, dict(form))

    async def post_webhook(
        self,
        target_url: str,
        form: Mapping[str, str],
        *,
        public_url: str | None = None,
        auth_token: str | None = None,
        body: bytes | None = None,
    ) -> WebhookResult:
        """POST a signed webhook to ``target_url``.

        The signature covers ``public_url`` (default: ``target_url``), the URL
        Twilio was configured with, which differs from the app's own address
        behind a proxy. ``body`` replaces the encoded form after signing, to
        send a tampered request.
        """
        signature = self.sign(public_url or target_url, form, auth_token=auth_token)
        encoded = body if body is not None else urlencode(list(form.items())).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
            "User-Agent": "TwilioProxy/1.1",
        }
        async with (
            aiohttp.ClientSession() as session,
            # Sent as written: Twilio requests the configured URL byte for byte,
            # and yarl would otherwise unquote %3A in the query.
            session.post(URL(target_url, encoded=True), data=encoded, headers=headers) as response,
        ):
            return WebhookResult(response.status, await response.text(), response.content_type)


def _bare(address: str) -> str:
    return address.removeprefix("whatsapp:")


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
