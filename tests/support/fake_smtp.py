"""A local SMTP server for tests, built on aiosmtpd and bound to 127.0.0.1 on a free port.

It runs on the test's event loop, so a gateway that calls ``smtplib`` in a
thread talks to it while the test awaits. It records every message it
accepts, parsed, and sends scripted refusals per recipient at RCPT or
DATA time. ``tls=True`` offers STARTTLS with a self-signed certificate for
127.0.0.1 (``client_tls_context`` trusts it), requires it before MAIL, and
accepts the login ``username``/``password`` only over TLS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import tempfile
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self

import attrs
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@attrs.frozen
class ReceivedMail:
    """One message the server accepted: envelope, parsed message and how the session was set up."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


@attrs.define
class Refusal:
    """The reply to send for a recipient, at ``stage`` (RCPT or DATA), the next ``times`` times."""

    reply: str
    stage: str
    times: int


class FakeSmtpServer:
    def __init__(
        self, *, tls: bool = False, username: str | None = None, password: str | None = None
    ) -> None:
        self.messages: list[ReceivedMail] = []
        self.refusals: dict[str, Refusal] = {}
        self.username = username
        self.password = password
        self._server: asyncio.base_events.Server | None = None
        self._certificate_pem: bytes | None = None
        self._server_tls: ssl.SSLContext | None = self._make_tls() if tls else None

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def refuse(
        self, recipient: str, reply: str, *, stage: str = "RCPT", times: int = 1_000
    ) -> None:
        """Reply with ``reply`` (such as ``550 5.1.1 User unknown``) for ``recipient`` at ``stage``."""
        self.refusals[recipient.lower()] = Refusal(reply, stage, times)

    def client_tls_context(self) -> ssl.SSLContext:
        """Return a client context that trusts this server's self-signed certificate."""
        assert self._certificate_pem is not None
        return ssl.create_default_context(cadata=self._certificate_pem.decode("ascii"))

    # --- aiosmtpd hooks ------------------------------------------------------------------

    def _protocol(self) -> SMTP:
        if self._server_tls is None:
            return SMTP(self, hostname="fake-smtp.invalid")
        return SMTP(
            self,
            hostname="fake-smtp.invalid",
            tls_context=self._server_tls,
            require_starttls=True,
            authenticator=self._authenticate,
            auth_require_tls=True,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        matches = (
            auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if not matches:
            # handled=False makes aiosmtpd send its own 535 reply.
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data.login.decode())

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self._take_refusal(address, "RCPT")
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        for address in envelope.rcpt_tos:
            refusal = self._take_refusal(address, "DATA")
            if refusal is not None:
                return refusal

        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data if isinstance(session.auth_data, str) else None
        self.messages.append(
            ReceivedMail(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                tls=session.ssl is not None,
                login=login,
            )
        )
        return "250 Message accepted for delivery"

    def _take_refusal(self, address: str, stage: str) -> str | None:
        refusal = self.refusals.get(address.lower())
        if refusal is None or refusal.stage != stage or refusal.times <= 0:
            return None
        refusal.times -= 1
        return refusal.reply

    def _make_tls(self) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self._certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain reads files only, so the PEMs go through a temporary one.
        with tempfile.NamedTemporaryFile("wb", suffix=".pem") as bundle:
            bundle.write(key_pem + self._certificate_pem)
            bundle.flush()
            context.load_cert_chain(bundle.name)
        return context
