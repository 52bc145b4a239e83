"""Dispatch of the notification outbox, which today contains the low-balance alert.

The ledger writes a ``credits.low`` row into ``notification_outbox`` in the
transaction of the entry that takes the available credits to the tenant's
threshold or below, so the ledger decides that an alert goes out once per
crossing. This dispatcher sends it after the commit: a pt-BR e-mail to the
tenant's contact address and to each active admin, and a webhook delivery to
each endpoint subscribed to ``credits.low``.

Rows are claimed in batches with ``FOR UPDATE SKIP LOCKED`` and a lease, so
concurrent dispatchers (the maintenance round of each API process, and the
dispatch that follows a host's credit operation) never work on the same row.
Each e-mail recipient is recorded on the row right after its message is
sent, and webhook deliveries are keyed by (endpoint, event), so a row that is
dispatched again after a failure does not repeat what already went out. Only
a crash between sending one message and recording it repeats that message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import attrs
import structlog

from application.credits import LOW_BALANCE_ALERT
from application.ports import EmailMessage, EmailSender, UnitOfWork
from domain.accounts import AccountStatus
from domain.identity import Role
from domain.tenancy import TenantStatus
from domain.webhooks import event_envelope

log = structlog.get_logger(__name__)

#: Outbox kinds this dispatcher sends; rows of other kinds wait for their sender.
HANDLED_KINDS = (LOW_BALANCE_ALERT,)
#: How long a claimed row stays invisible to other dispatchers while it is sent.
CLAIM_LEASE = dt.timedelta(minutes=5)
FIRST_RETRY_DELAY = dt.timedelta(minutes=1)
MAX_RETRY_DELAY = dt.timedelta(hours=1)
#: Attempts before a row is given up: the backoff reaches an hour at the
#: seventh, so thirty attempts span about a day.
MAX_ATTEMPTS = 30
#: Admins e-mailed per alert; a tenant has a handful.
MAX_ADMIN_RECIPIENTS = 50
MAX_ERROR_LENGTH = 500
EMAIL_PURPOSE = "low_balance"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class QueuedNotification:
    id: str
    tenant_id: str
    kind: str
    payload: dict[str, Any]
    created_at: dt.datetime
    #: Attempts so far, the one this claim starts included.
    attempts: int
    #: Keys (see :func:`recipient_key`) of the addresses already e-mailed.
    emailed: frozenset[str]


class NotificationQueue(Protocol):
    """The outbox seen by its dispatcher; every method needs a host scope."""

    async def claim_due(
        self,
        now: dt.datetime,
        limit: int,
        lease_until: dt.datetime,
        kinds: Sequence[str],
        *,
        tenant_id: str | None = None,
    ) -> list[QueuedNotification]:
        """Take unsent rows due by ``now``, skipping rows locked by another dispatcher.

        Each claimed row counts one more attempt and becomes due again at
        ``lease_until``, so a dispatcher that dies mid-send leaves it for later.
        """
        ...

    async def record_email(self, notification_id: str, recipient: str) -> None: ...

    async def mark_sent(self, notification_id: str, now: dt.datetime) -> None: ...

    async def mark_failed(
        self, notification_id: str, error: str, next_attempt_at: dt.datetime
    ) -> None: ...

    async def abandon(self, notification_id: str, error: str, now: dt.datetime) -> None:
        """Take the row out of the queue for good, keeping it and its last error."""
        ...


def recipient_key(address: str) -> str:
    """Identify an e-mail address on the outbox row without storing the address itself."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]


def retry_at(attempted_at: dt.datetime, attempts: int) -> dt.datetime:
    """Return when to dispatch a row again after its failed attempt number ``attempts``."""
    step = FIRST_RETRY_DELAY * (1 << min(max(attempts - 1, 0), 20))
    return attempted_at + min(step, MAX_RETRY_DELAY)


def _available_phrase(credits: int) -> str:
    if credits <= 0:
        return "nenhum crédito disponível"
    if credits == 1:
        return "1 crédito disponível"
    return f"{credits} créditos disponíveis"


def low_balance_email(tenant_name: str, available: int, threshold: int) -> tuple[str, str]:
    """Return the subject and text of the low-balance e-mail, in pt-BR."""
    subject = f"Saldo de créditos baixo: {_available_phrase(available)}"
    limit = "chega a zero" if threshold <= 0 else f"cai a {threshold} crédito(s) ou menos"
    text = (
        "Olá,\n\n"
        f"O saldo de créditos da empresa {tenant_name} no Garimpo chegou a "
        f"{_available_phrase(available)}. O alerta avisa quando o saldo disponível {limit}.\n\n"
        "Cada pré-lead que entra em qualificação reserva um crédito, e sem saldo disponível "
        "novas qualificações não começam. Para continuar, compre créditos ou fale com o "
        "administrador do Garimpo.\n\n"
        "Você recebe este aviso por ser administrador da conta ou o contato cadastrado da "
        "empresa. O limite do alerta fica nas configurações da conta "
        "(low_balance_threshold).\n\n"
        "Equipe Garimpo\n"
    )
    return subject, text


class NotificationDispatcher:
    """Sends the due rows of the notification outbox and records the outcome on each row."""

    def __init__(
        self,
        uow: UnitOfWork,
        email: EmailSender,
        *,
        clock: Callable[[], dt.datetime] = _now,
        batch: int = 100,
    ) -> None:
        self._uow = uow
        self._email = email
        self._clock = clock
        self._batch = batch

    async def dispatch_due(self, *, tenant_id: str | None = None) -> int:
        """Send every due row (of one tenant, when given); return how many were sent."""
        sent = 0
        while True:
            now = self._clock()
            async with self._uow.host() as scope:
                claimed = await scope.notifications.claim_due(
                    now, self._batch, now + CLAIM_LEASE, HANDLED_KINDS, tenant_id=tenant_id
                )
            for item in claimed:
                sent += await self._dispatch(item)
            if len(claimed) < self._batch:
                return sent

    async def _dispatch(self, item: QueuedNotification) -> bool:
        try:
            if item.kind == LOW_BALANCE_ALERT:
                await self._send_low_balance(item)
        # Any failure, the e-mail server's included, must reschedule the row
        # instead of ending the round; the error is logged and kept on the row.
        except Exception as error:
            failed_at = self._clock()
            message = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
            if item.attempts >= MAX_ATTEMPTS:
                log.exception(
                    "notification_abandoned",
                    notification_id=item.id,
                    tenant_id=item.tenant_id,
                    kind=item.kind,
                    attempt=item.attempts,
                )
                async with self._uow.host() as scope:
                    await scope.notifications.abandon(item.id, message, failed_at)
                return False

            next_at = retry_at(failed_at, item.attempts)
            log.exception(
                "notification_failed",
                notification_id=item.id,
                tenant_id=item.tenant_id,
                kind=item.kind,
                attempt=item.attempts,
                retry_at=next_at.isoformat(),
            )
            async with self._uow.host() as scope:
                await scope.notifications.mark_failed(item.id, message, next_at)
            return False

        async with self._uow.host() as scope:
            await scope.notifications.mark_sent(item.id, self._clock())
        log.info(
            "notification_sent", notification_id=item.id, tenant_id=item.tenant_id, kind=item.kind
        )
        return True

    async def _send_low_balance(self, item: QueuedNotification) -> None:
        async with self._uow.tenant(item.tenant_id) as scope:
            tenant = await scope.tenants.get(item.tenant_id)
            if tenant is None or tenant.status is TenantStatus.DELETED:
                # A deleted tenant gets no alert, so the row is done.
                return
            _total, admins = await scope.accounts.list(
                role=Role.ADMIN,
                status=AccountStatus.ACTIVE,
                offset=0,
                limit=MAX_ADMIN_RECIPIENTS,
            )

            # Enqueued in the tenant's transaction: the (endpoint, event) key
            # makes a second dispatch of this row add nothing.
            envelope = event_envelope(
                item.id, item.kind, tenant.id, item.created_at, dict(item.payload)
            )
            for endpoint in await scope.webhooks.subscribed_endpoints(item.kind):
                await scope.webhooks.enqueue(
                    tenant.id,
                    endpoint.id,
                    event_id=item.id,
                    event_type=item.kind,
                    payload=envelope,
                )

        subject, text = low_balance_email(
            tenant.name, int(item.payload["available"]), int(item.payload["threshold"])
        )
        addresses = [tenant.contact_email, *(admin.email for admin in admins)]
        for address in _unique_addresses(addresses):
            key = recipient_key(address)
            if key in item.emailed:
                continue
            await self._email.send(
                EmailMessage(to=address, subject=subject, text=text, purpose=EMAIL_PURPOSE)
            )
            async with self._uow.host() as scope:
                await scope.notifications.record_email(item.id, key)


def _unique_addresses(addresses: Sequence[str | None]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for address in addresses:
        if not address:
            continue
        normalised = address.strip().lower()
        if normalised not in seen:
            seen.add(normalised)
            unique.append(address.strip())
    return unique
