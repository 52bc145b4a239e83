"""The qualification of one pre-lead as a state machine: WhatsApp, then SMS, then e-mail.

Each pre-lead walks its channels in order. A channel is skipped when the
pre-lead has no usable contact for it. A channel is left for the next one
when the number is not on WhatsApp, when sending keeps failing, or when no
reply arrives within the tenant's wait time. A reply ends the walk with the
classifier's outcome, or parks it for a person to decide when the
classifier is unsure. When every channel is used up, the outcome is
no_answer.

The machine is pure: each transition takes the current flow and an event
and returns the next flow, with the time of its next action. Workers store
the flow and act on it. Each send carries an idempotency key that depends
only on the pre-lead, the channel and the attempt number, so a worker killed
mid-send retries with the same key and the provider sends once.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import zoneinfo
from collections.abc import Collection, Sequence

import attrs

from domain.errors import RuleViolation

#: Channels in the order they are tried.
CHANNEL_ORDER = ("whatsapp", "sms", "email")
#: Send attempts per channel before moving to the next one.
MAX_SEND_ATTEMPTS = 3
FIRST_RETRY_DELAY = dt.timedelta(minutes=1)
MAX_RETRY_DELAY = dt.timedelta(minutes=30)


class Channel(enum.StrEnum):
    WHATSAPP = "whatsapp"
    SMS = "sms"
    EMAIL = "email"


class FlowState(enum.StrEnum):
    #: A send on ``channel`` is due at ``next_action_at``.
    SENDING = "sending"
    #: The message went out; a reply is awaited until ``next_action_at``.
    AWAITING_REPLY = "awaiting_reply"
    #: A reply the classifier could not decide waits for a person.
    IN_REVIEW = "in_review"
    DONE = "done"


class Outcome(enum.StrEnum):
    QUALIFIED = "qualified"
    NOT_INTERESTED = "not_interested"
    INVALID = "invalid"
    OPT_OUT = "opt_out"
    NO_ANSWER = "no_answer"
    #: The job was cancelled before the flow ended; nothing is charged.
    CANCELLED = "cancelled"


class SendFailure(enum.StrEnum):
    #: A provider or network error that may pass: retry with backoff.
    RETRYABLE = "retryable"
    #: The number has no WhatsApp, or the channel refuses this address for good.
    NOT_ON_CHANNEL = "not_on_channel"
    #: The provider rejected the message for good (invalid number, blocked).
    PERMANENT = "permanent"


@attrs.frozen
class Reachability:
    """The channels a pre-lead can be reached on, from its checked contacts."""

    mobile: bool
    email: bool

    def channels(self) -> tuple[Channel, ...]:
        """Return the usable channels in order: WhatsApp and SMS need a mobile, e-mail a valid address."""
        usable = {
            Channel.WHATSAPP: self.mobile,
            Channel.SMS: self.mobile,
            Channel.EMAIL: self.email,
        }
        return tuple(Channel(name) for name in CHANNEL_ORDER if usable[Channel(name)])


@attrs.frozen(kw_only=True)
class Flow:
    """The state of one pre-lead's qualification."""

    prelead_id: str
    #: The flow's own id; each qualification of a pre-lead is a new flow with new send keys.
    id: str = attrs.field(default=attrs.Factory(lambda flow: flow.prelead_id, takes_self=True))
    state: FlowState
    #: Channels still to try after the current one, in order.
    remaining: tuple[Channel, ...]
    channel: Channel | None
    #: Sends tried on the current channel, the one in progress included.
    attempt: int = 0
    next_action_at: dt.datetime | None = None
    outcome: Outcome | None = None
    #: Why the flow ended or changed channel, for the timeline.
    reason: str | None = None
    #: The classifier rule behind the outcome, when a reply decided it.
    rule: str | None = None

    @property
    def idempotency_key(self) -> str:
        """Return the key of the current send, the same for every retry of one attempt."""
        assert self.channel is not None
        return f"qualify:{self.id}:{self.channel}:{self.attempt}"

    @property
    def finished(self) -> bool:
        return self.state is FlowState.DONE


def start(
    prelead_id: str, reach: Reachability, now: dt.datetime, *, flow_id: str | None = None
) -> Flow:
    """Begin with the first reachable channel, or end at once when none is."""
    flow_id = flow_id or prelead_id
    channels = reach.channels()
    if not channels:
        return Flow(
            prelead_id=prelead_id,
            id=flow_id,
            state=FlowState.DONE,
            remaining=(),
            channel=None,
            outcome=Outcome.INVALID,
            reason="no_usable_contact",
        )
    return Flow(
        prelead_id=prelead_id,
        id=flow_id,
        state=FlowState.SENDING,
        remaining=channels[1:],
        channel=channels[0],
        attempt=1,
        next_action_at=now,
    )


def sent(flow: Flow, now: dt.datetime, wait: dt.timedelta) -> Flow:
    """Record that the provider accepted the message, and wait for a reply until ``now + wait``."""
    _expect(flow, FlowState.SENDING)
    return attrs.evolve(flow, state=FlowState.AWAITING_REPLY, next_action_at=now + wait)


def send_failed(flow: Flow, failure: SendFailure, now: dt.datetime) -> Flow:
    """Retry a passing failure with backoff; otherwise, or after the last attempt, move on."""
    _expect(flow, FlowState.SENDING)
    if failure is SendFailure.RETRYABLE and flow.attempt < MAX_SEND_ATTEMPTS:
        return attrs.evolve(
            flow, attempt=flow.attempt + 1, next_action_at=now + retry_delay(flow.attempt)
        )
    reason = {
        SendFailure.RETRYABLE: "send_failed",
        SendFailure.NOT_ON_CHANNEL: "not_on_channel",
        SendFailure.PERMANENT: "send_rejected",
    }[failure]
    return _next_channel(flow, now, reason)


def reply_waited_out(flow: Flow, now: dt.datetime) -> Flow:
    """Move to the next channel when no reply came in time, or end with no_answer."""
    _expect(flow, FlowState.AWAITING_REPLY)
    assert flow.next_action_at is not None
    if now < flow.next_action_at:
        return flow
    return _next_channel(flow, now, "no_reply")


def replied(flow: Flow, outcome: Outcome | None, rule: str | None) -> Flow:
    """End the walk with a classified reply, or park it for review when ``outcome`` is None.

    A reply may arrive while a retry of the same channel is pending or after a
    later channel started: the walk stops wherever it was.
    """
    if flow.finished:
        return flow
    if outcome is None:
        return attrs.evolve(flow, state=FlowState.IN_REVIEW, next_action_at=None, rule=rule)
    if outcome is Outcome.NO_ANSWER:
        raise ValueError("no_answer comes from waiting, not from a reply")
    return _done(flow, outcome, reason="reply", rule=rule)


def reviewed(flow: Flow, outcome: Outcome) -> Flow:
    """End the walk with the outcome a person chose for an unsure reply."""
    _expect(flow, FlowState.IN_REVIEW)
    return _done(flow, outcome, reason="reviewed", rule="human_review")


def opted_out(flow: Flow) -> Flow:
    """End the walk without sending: the opt-out check right before a send found the contact."""
    if flow.finished:
        return flow
    return _done(flow, Outcome.OPT_OUT, reason="opted_out_before_send", rule=None)


def delivery_failed(flow: Flow, now: dt.datetime) -> Flow:
    """Move on at once when the provider reports that the awaited message never arrived.

    Twilio reports a WhatsApp number without WhatsApp this way, after having
    accepted the send.
    """
    if flow.state is not FlowState.AWAITING_REPLY:
        return flow
    return _next_channel(flow, now, "delivery_failed")


def cancelled(flow: Flow) -> Flow:
    """End the walk because its job was cancelled."""
    if flow.finished:
        return flow
    return _done(flow, Outcome.CANCELLED, reason="cancelled", rule=None)


def _next_channel(flow: Flow, now: dt.datetime, reason: str) -> Flow:
    if not flow.remaining:
        return _done(flow, Outcome.NO_ANSWER, reason=reason, rule=None)
    return attrs.evolve(
        flow,
        state=FlowState.SENDING,
        channel=flow.remaining[0],
        remaining=flow.remaining[1:],
        attempt=1,
        next_action_at=now,
        reason=reason,
    )


def _done(flow: Flow, outcome: Outcome, *, reason: str, rule: str | None) -> Flow:
    return attrs.evolve(
        flow,
        state=FlowState.DONE,
        remaining=(),
        outcome=outcome,
        next_action_at=None,
        reason=reason,
        rule=rule,
    )


def _expect(flow: Flow, state: FlowState) -> None:
    if flow.state is not state:
        raise ValueError(f"flow of {flow.prelead_id} is {flow.state}, expected {state}")


def retry_delay(attempt: int) -> dt.timedelta:
    """Backoff before the next attempt: 1, 2, 4... minutes, at most 30."""
    delay: dt.timedelta = FIRST_RETRY_DELAY * (2 ** (attempt - 1))
    return min(delay, MAX_RETRY_DELAY)


# --- when sending is allowed ---------------------------------------------------------


@attrs.frozen
class SendingWindow:
    """When a tenant may contact companies: hours and days in its timezone.

    Sends outside the window wait for its next opening, so nobody gets a
    sales message at night, on a weekend, or on a holiday the tenant listed.
    """

    timezone: str
    opens: dt.time = dt.time(9, 0)
    closes: dt.time = dt.time(18, 0)
    #: ISO weekdays (1 is Monday) on which sending is allowed.
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holidays: frozenset[dt.date] = frozenset()

    @classmethod
    def create(
        cls,
        timezone: str,
        opens: dt.time,
        closes: dt.time,
        weekdays: Collection[int],
        holidays: Sequence[dt.date] = (),
    ) -> SendingWindow:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise RuleViolation(
                f"Fuso horário desconhecido: '{timezone}'. Use um nome IANA, como "
                "America/Sao_Paulo.",
                field="timezone",
                code="invalid_timezone",
            ) from None
        if opens >= closes:
            raise RuleViolation(
                "O horário de início dos envios deve ser antes do horário de fim.",
                field="sending_hours",
                code="invalid_sending_hours",
            )
        days = frozenset(weekdays)
        if not days:
            raise RuleViolation(
                "Informe ao menos um dia da semana para envios, de 1 (segunda) a 7 (domingo).",
                field="sending_weekdays",
                code="invalid_sending_weekdays",
            )
        if not days <= set(range(1, 8)):
            raise RuleViolation(
                f"Dias de envio inválidos: {sorted(days - set(range(1, 8)))}. Use de 1 "
                "(segunda) a 7 (domingo).",
                field="sending_weekdays",
                code="invalid_sending_weekdays",
            )
        return cls(timezone, opens, closes, days, frozenset(holidays))

    def next_opening(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` when sending is allowed then, else the next time it opens (timezone-aware)."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        local = moment.astimezone(zone)

        # A year of days is far more than any sensible window needs to open.
        for offset in range(366):
            day = local.date() + dt.timedelta(days=offset)
            if day.isoweekday() not in self.weekdays or day in self.holidays:
                continue
            opening = dt.datetime.combine(day, self.opens, zone)
            closing = dt.datetime.combine(day, self.closes, zone)
            if offset == 0 and local >= closing:
                continue
            return max(local, opening) if offset == 0 else opening
        raise ValueError("the sending window never opens within a year")


# --- what providers report about a sent message ---------------------------------------


class DeliveryStatus(enum.StrEnum):
    """The delivery status of a sent message, as the provider reports it."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


_PROGRESS = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
}


def next_delivery_status(current: DeliveryStatus, reported: DeliveryStatus) -> DeliveryStatus:
    """Return the status after a report; callbacks arrive out of order and never move back.

    A failure counts only while the message has not reached the handset: a
    ``failed`` after ``delivered`` is kept as an event and the message stays
    delivered.
    """
    if current is DeliveryStatus.FAILED:
        return current
    if reported is DeliveryStatus.FAILED:
        return current if _PROGRESS[current] >= _PROGRESS[DeliveryStatus.DELIVERED] else reported
    return reported if _PROGRESS[reported] > _PROGRESS[current] else current


# --- how a message names the company ----------------------------------------------------

_MASKED_CPF = re.compile(r"\*{3}\.\*{3}\.\*{3}-\*{2}")
#: The CNPJ root an MEI's name often starts with, as 12.345.678 or 12345678.
_LEADING_ROOT = re.compile(r"^\s*\d{2}\.?\d{3}\.?\d{3}\s+")
_LOWER_WORDS = frozenset({"de", "da", "do", "das", "dos", "e", "em", "para"})
_KEEP_UPPER = frozenset({"ltda", "me", "epp", "eireli", "s/a", "sa", "mei"})


def company_display_name(trade_name: str | None, legal_name: str | None) -> str | None:
    """Return how a message names a company: its trade name, else a cleaned legal name.

    The registry writes names in capitals, and an MEI's legal name carries its
    CNPJ root and its owner's (masked) CPF. A message reads better, and looks
    less like spam, as "Padaria Bom Pão" than as "12.345.678 ANA SILVA ***".
    """
    for name in (trade_name, legal_name):
        if not name:
            continue
        cleaned = _LEADING_ROOT.sub("", _MASKED_CPF.sub("", name))
        cleaned = re.sub(r"\s+", " ", cleaned).strip(" -.")
        if cleaned:
            return _title(cleaned)
    return None


def _title(name: str) -> str:
    words = []
    for index, word in enumerate(name.split(" ")):
        lowered = word.lower()
        if lowered in _KEEP_UPPER:
            words.append(word.upper())
        elif index > 0 and lowered in _LOWER_WORDS:
            words.append(lowered)
        else:
            words.append(lowered[:1].upper() + lowered[1:])
    return " ".join(words)
