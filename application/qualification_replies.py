"""Replies, delivery reports and opt-outs: what comes back after a send.

Provider webhooks hand their events here once the signature is checked
(:class:`QualificationReplies` is the ``ProviderEvents`` port), and so do
the API's reply route (the sandbox, n8n), the review queue and the opt-out
routes. Each event id is processed once: the ``provider_event`` row and the
work it causes commit together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import structlog

from application.enrichment import ContactChecker
from application.messaging import MessagingGateway, OutboundMessage, SendError
from application.personal_data import PersonalDataCipher
from application.ports import Scope, UnitOfWork
from application.provider_events import InboundReply, StatusReport, Unsubscribed
from application.qualification_outcomes import (
    FlowOutcomes,
    UnsubscribeLinks,
    repository,
    tenant_in,
)
from application.qualification_ports import QualificationRepository, ReviewItem, StoredFlow
from domain import qualification as machine
from domain.audit import SYSTEM_ACTOR, Actor, AuditEvent
from domain.classifier import ReplyClassification, ReplyOutcome, classify
from domain.cnpj import Cnpj
from domain.contacts import whatsapp_candidates
from domain.errors import Conflict, InvalidCnpj, NotFound, RuleViolation
from domain.qualification import Channel, DeliveryStatus, Flow, FlowState, Outcome
from domain.search import Page, PageRequest
from domain.tenancy import Tenant

log = structlog.get_logger(__name__)

_REPLY_OUTCOME = {
    ReplyOutcome.QUALIFIED: Outcome.QUALIFIED,
    ReplyOutcome.NOT_INTERESTED: Outcome.NOT_INTERESTED,
    ReplyOutcome.INVALID: Outcome.INVALID,
    ReplyOutcome.OPT_OUT: Outcome.OPT_OUT,
}

OPT_OUT_CONFIRMATION = (
    "Pronto: você não receberá mais mensagens de {remetente}. Obrigado pelo retorno."
)


class FlowNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Qualificação de pré-lead não encontrada.")


class NotInReview(Conflict):
    code = "not_in_review"

    def __init__(self) -> None:
        super().__init__("Esta qualificação não está aguardando revisão.")


@attrs.frozen(kw_only=True)
class ReplyResult:
    matched: bool
    duplicate: bool = False
    flow_id: str | None = None
    classification: ReplyClassification | None = None
    outcome: Outcome | None = None

    def to_json(self) -> dict[str, Any]:
        classification = self.classification
        return {
            "matched": self.matched,
            "duplicate": self.duplicate,
            "flow_id": self.flow_id,
            "classification": None
            if classification is None
            else {"outcome": classification.outcome.value, "rule": classification.rule},
            "outcome": None if self.outcome is None else self.outcome.value,
        }


@attrs.frozen(kw_only=True)
class _Confirmation:
    tenant_id: str
    tenant_name: str
    channel: Channel
    to: str
    key: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class QualificationReplies:
    """Take replies and reports, keep the opt-out lists, and let people decide unsure replies."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        gateway: MessagingGateway,
        checker: ContactChecker,
        cipher: PersonalDataCipher,
        outcomes: FlowOutcomes,
        links: UnsubscribeLinks,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._gateway = gateway
        self._checker = checker
        self._cipher = cipher
        self._outcomes = outcomes
        self._links = links
        self._clock = clock

    async def reply_from_api(
        self,
        actor: Actor,
        tenant_id: str,
        *,
        channel: Channel,
        sender: str,
        body: str,
        message_id: str | None,
        provider: str = "api",
    ) -> ReplyResult:
        """Take a reply posted through the API (the sandbox, or n8n relaying a provider).

        The caller's message id is the tenant's own, so it is kept per tenant;
        without one, every post counts as a new message.
        """
        now = self._clock()
        message_key = message_id or uuid.uuid4().hex
        reply = InboundReply(
            provider=provider,
            channel=channel,
            provider_message_id=f"{tenant_id}:{message_key}",
            sender=sender,
            recipient=None,
            body=body,
            received_at=now,
        )
        hashes = self._contact_hashes(channel, sender)
        result, confirmation = await self._take_reply(tenant_id, reply, hashes, actor)
        await self._confirm(confirmation)
        return result

    async def reply(self, reply: InboundReply) -> None:
        """Take a provider's reply: find its tenant, then its flow."""
        hashes = self._contact_hashes(reply.channel, reply.sender)
        tenant_id: str | None = None
        # The message a reply refers to names the tenant exactly, and the
        # tenant's own number nearly so. Only a reply to a shared number without
        # that context goes to the tenant with the most recent live flow.
        async with self._uow.unscoped() as scope:
            repo = repository(scope)
            if reply.in_reply_to:
                tenant_id = await repo.route_message(reply.provider, reply.in_reply_to, None)
            if tenant_id is None and reply.recipient:
                tenant_id = await repo.route_sender(reply.channel, _bare(reply.recipient))
            if tenant_id is None:
                routes = await repo.route_contact(hashes)
                if routes:
                    tenant_id = routes[0][0]

        if tenant_id is None:
            await self._unmatched(None, reply, hashes)
            return
        _, confirmation = await self._take_reply(tenant_id, reply, hashes, SYSTEM_ACTOR)
        await self._confirm(confirmation)

    def _contact_hashes(self, channel: Channel, sender: str) -> list[bytes]:
        if channel is Channel.EMAIL:
            return [self._cipher.lookup_hash("email", sender.strip().lower())]
        digits = "".join(ch for ch in sender if ch.isdigit())
        if not sender.strip().startswith("+") and len(digits) in (10, 11):
            # A Brazilian number written with its DDD but without the country
            # code: the contact checker reads it as one from Brazil.
            e164 = self._checker.phone(sender).e164
            if e164 is not None:
                digits = e164.removeprefix("+")
        return [self._cipher.lookup_hash("phone", number) for number in whatsapp_candidates(digits)]

    async def _take_reply(
        self, tenant_id: str, reply: InboundReply, hashes: Sequence[bytes], actor: Actor
    ) -> tuple[ReplyResult, _Confirmation | None]:
        now = self._clock()
        confirmation: _Confirmation | None = None
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            fresh = await repo.record_event(
                reply.provider,
                f"message:{reply.provider_message_id}",
                tenant_id=tenant_id,
                kind="reply",
                provider_message_id=reply.provider_message_id,
                detail={"channel": reply.channel.value},
            )
            if not fresh:
                return ReplyResult(matched=True, duplicate=True), None

            tenant = await tenant_in(scope, tenant_id)
            classification = classify(reply.body, tenant.settings.qualification.rule_set())
            if reply.provider_opt_out:
                classification = ReplyClassification(
                    outcome=ReplyOutcome.OPT_OUT, rule="provider_opt_out", text=classification.text
                )

            flow_ids = await repo.flows_by_contact(hashes)
            stored = None
            for flow_id in flow_ids:
                stored = await repo.flow(flow_id, for_update=True)
                if stored is not None:
                    break
            if stored is None:
                await self._store_unmatched(repo, tenant_id, reply, hashes)
                if classification.outcome is ReplyOutcome.OPT_OUT:
                    await self._outcomes.record_opt_out(
                        repo, tenant_id, reply.channel, hashes[-1], "reply"
                    )
                return ReplyResult(matched=False, classification=classification), None

            interaction_id = await repo.add_interaction(
                tenant_id,
                prelead_id=stored.flow.prelead_id,
                channel=reply.channel,
                direction="inbound",
                content_encrypted=self._cipher.encrypt(reply.body),
                provider=reply.provider,
                provider_message_id=reply.provider_message_id,
                status="received",
                occurred_at=reply.received_at,
            )
            if interaction_id is None:
                return ReplyResult(matched=True, duplicate=True, flow_id=stored.id), None

            outcome = _REPLY_OUTCOME.get(classification.outcome)
            if classification.outcome is ReplyOutcome.OPT_OUT:
                contact_hash = (
                    stored.email_hash if reply.channel is Channel.EMAIL else stored.phone_hash
                )
                await self._outcomes.record_opt_out(
                    repo, tenant_id, reply.channel, contact_hash or hashes[-1], "reply"
                )
                if not reply.provider_opt_out:
                    confirmation = self._confirmation(tenant, stored, reply)

            before = stored.flow
            if before.finished:
                flow = await self._late_reply(
                    scope, tenant_id, stored, reply, hashes, outcome, classification, actor, now
                )
            else:
                flow = machine.replied(before, outcome, classification.rule)
                await repo.save_flow(stored.id, flow, now)
                if flow.finished:
                    await self._outcomes.conclude(scope, tenant_id, stored, flow, actor, now)
            log.info(
                "qualification_reply",
                tenant_id=tenant_id,
                flow_id=stored.id,
                channel=reply.channel.value,
                outcome=classification.outcome.value,
                rule=classification.rule,
            )
            return (
                ReplyResult(
                    matched=True,
                    flow_id=stored.id,
                    classification=classification,
                    outcome=flow.outcome,
                ),
                confirmation,
            )

    async def _late_reply(
        self,
        scope: Scope,
        tenant_id: str,
        stored: StoredFlow,
        reply: InboundReply,
        hashes: Sequence[bytes],
        outcome: Outcome | None,
        classification: ReplyClassification,
        actor: Actor,
        now: dt.datetime,
    ) -> Flow:
        """Apply a reply that came after its flow ended, or keep it for a person to read.

        After no_answer the walk is over but the contact answered it: the reply
        decides as it would have (a "sim" qualifies and is charged). After a
        cancelled job, or when the classifier is unsure, nothing is decided for
        the tenant; the reply waits in the tenant's unmatched list.
        """
        ended = stored.flow
        if outcome is Outcome.OPT_OUT:
            return ended
        if ended.outcome is Outcome.NO_ANSWER and outcome is not None:
            decided = attrs.evolve(
                ended, outcome=outcome, reason="late_reply", rule=classification.rule
            )
            await repository(scope).save_flow(stored.id, decided, now)
            await self._outcomes.conclude(scope, tenant_id, stored, decided, actor, now)
            return decided
        if ended.outcome in {Outcome.NO_ANSWER, Outcome.CANCELLED}:
            await self._store_unmatched(repository(scope), tenant_id, reply, hashes)
        return ended

    def _confirmation(
        self, tenant: Tenant, stored: StoredFlow, reply: InboundReply
    ) -> _Confirmation | None:
        encrypted = (
            stored.email_encrypted if reply.channel is Channel.EMAIL else stored.phone_encrypted
        )
        if encrypted is None:
            return None
        to = self._cipher.decrypt(encrypted)
        digest = hashlib.sha256(f"{reply.channel}:{to}".encode()).hexdigest()[:32]
        return _Confirmation(
            tenant_id=tenant.id,
            tenant_name=tenant.name,
            channel=reply.channel,
            to=to,
            key=f"optout-confirmation:{digest}",
        )

    async def _confirm(self, confirmation: _Confirmation | None) -> None:
        """Send the one confirmation an opt-out gets; its key makes a second one impossible."""
        if confirmation is None:
            return
        now = self._clock()
        async with self._uow.tenant(confirmation.tenant_id) as scope:
            first = await repository(scope).begin_send(
                confirmation.tenant_id,
                confirmation.key,
                flow_id=None,
                channel=confirmation.channel,
                sender=None,
                now=now,
            )
        if not first:
            return
        body = OPT_OUT_CONFIRMATION.format(remetente=confirmation.tenant_name)
        message = OutboundMessage(
            tenant_id=confirmation.tenant_id,
            channel=confirmation.channel,
            to=confirmation.to,
            body=body,
            subject="Descadastro confirmado" if confirmation.channel is Channel.EMAIL else None,
            idempotency_key=confirmation.key,
        )
        state, provider_id, code = "sent", None, None
        provider: str | None = None
        try:
            receipt = await self._gateway.send(message)
            provider, provider_id = receipt.provider, receipt.provider_message_id
        except SendError as error:
            state, code = "failed", error.code
        async with self._uow.tenant(confirmation.tenant_id) as scope:
            await repository(scope).finish_send(
                confirmation.key,
                state=state,
                provider=provider,
                provider_message_id=provider_id,
                interaction_id=None,
                error_code=code,
                now=self._clock(),
            )

    async def _store_unmatched(
        self,
        repo: QualificationRepository,
        tenant_id: str | None,
        reply: InboundReply,
        hashes: Sequence[bytes],
    ) -> None:
        await repo.add_unmatched(
            tenant_id=tenant_id,
            provider=reply.provider,
            channel=reply.channel,
            provider_message_id=reply.provider_message_id,
            sender_hash=hashes[-1],
            sender_encrypted=self._cipher.encrypt(reply.sender),
            body_encrypted=self._cipher.encrypt(reply.body),
            recipient=reply.recipient,
            received_at=reply.received_at,
        )
        log.info("qualification_reply_unmatched", tenant_id=tenant_id, provider=reply.provider)

    async def _unmatched(
        self, tenant_id: str | None, reply: InboundReply, hashes: Sequence[bytes]
    ) -> None:
        async with self._uow.unscoped() as scope:
            repo = repository(scope)
            fresh = await repo.record_event(
                reply.provider,
                f"message:{reply.provider_message_id}",
                tenant_id=None,
                kind="reply",
                provider_message_id=reply.provider_message_id,
                detail={"channel": reply.channel.value, "matched": False},
            )
            if not fresh:
                return
            await self._store_unmatched(repo, tenant_id, reply, hashes)
            if classify(reply.body).outcome is ReplyOutcome.OPT_OUT:
                kind = "email" if reply.channel is Channel.EMAIL else "phone"
                await repo.add_opt_out(None, kind, hashes[-1], "reply")

    async def status(self, report: StatusReport) -> None:
        async with self._uow.unscoped() as scope:
            tenant_id = await repository(scope).route_message(
                report.provider, report.provider_message_id, report.idempotency_key
            )
        if tenant_id is None:
            log.info(
                "provider_status_unmatched",
                provider=report.provider,
                provider_message_id=report.provider_message_id,
            )
            return
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            fresh = await repo.record_event(
                report.provider,
                report.event_id,
                tenant_id=tenant_id,
                kind=f"status:{report.status.value}",
                provider_message_id=report.provider_message_id,
                detail={"status": report.status.value, "error_code": report.error_code},
            )
            if not fresh:
                return
            change = await repo.report_status(
                report.provider,
                report.provider_message_id,
                report.idempotency_key,
                report.status,
                report.occurred_at,
                report.error_code,
            )
            if change is None or change.flow_id is None:
                return
            if change.current is DeliveryStatus.FAILED and change.current_send:
                stored = await repo.flow(change.flow_id, for_update=True)
                if stored is not None and stored.flow.channel is change.channel:
                    flow = machine.delivery_failed(stored.flow, now)
                    if flow != stored.flow:
                        await repo.save_flow(stored.id, flow, now)
                        if flow.finished:
                            await self._outcomes.conclude(
                                scope, tenant_id, stored, flow, SYSTEM_ACTOR, now
                            )

    async def unsubscribed(self, event: Unsubscribed) -> None:
        hashes = self._contact_hashes(event.channel, event.address)
        async with self._uow.unscoped() as scope:
            repo = repository(scope)
            tenant_id = await repo.route_message(event.provider, None, event.idempotency_key)
            if tenant_id is None:
                routes = await repo.route_contact(hashes)
                tenant_id = routes[0][0] if routes else None
        if tenant_id is None:
            async with self._uow.unscoped() as scope:
                repo = repository(scope)
                if await repo.record_event(
                    event.provider,
                    event.event_id,
                    tenant_id=None,
                    kind="unsubscribe",
                    provider_message_id=None,
                    detail={"channel": event.channel.value},
                ):
                    kind = "email" if event.channel is Channel.EMAIL else "phone"
                    await repo.add_opt_out(None, kind, hashes[-1], "provider")
            return
        await self._opt_out_in_tenant(
            tenant_id, event.channel, hashes, event.provider, event.event_id, "provider"
        )

    async def _opt_out_in_tenant(
        self,
        tenant_id: str,
        channel: Channel,
        hashes: Sequence[bytes],
        provider: str,
        event_id: str,
        source: str,
    ) -> None:
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            if not await repo.record_event(
                provider,
                event_id,
                tenant_id=tenant_id,
                kind="unsubscribe",
                provider_message_id=None,
                detail={"channel": channel.value},
            ):
                return
            await self._outcomes.record_opt_out(repo, tenant_id, channel, hashes[-1], source)
            for flow_id in await repo.flows_by_contact(hashes):
                stored = await repo.flow(flow_id, for_update=True)
                if stored is None or stored.flow.finished:
                    continue
                flow = machine.replied(stored.flow, Outcome.OPT_OUT, "unsubscribed")
                await repo.save_flow(flow_id, flow, now)
                await self._outcomes.conclude(scope, tenant_id, stored, flow, SYSTEM_ACTOR, now)

    def unsubscribe_link_valid(self, token: str) -> bool:
        """Tell whether a token is one Garimpo made, without recording anything."""
        return self._links.verify(token) is not None

    async def unsubscribe(self, token: str) -> bool:
        """Honour an unsubscribe link; False when the token is not one Garimpo made."""
        named = self._links.verify(token)
        if named is None:
            return False
        tenant_id, email_hash = named
        await self._opt_out_in_tenant(
            tenant_id, Channel.EMAIL, [email_hash], "garimpo", f"unsubscribe:{token}", "link"
        )
        return True

    async def record_opt_out(
        self, actor: Actor, tenant_id: str | None, *, kind: str, value: str
    ) -> bool:
        """Put a phone, e-mail or CNPJ on the tenant's list (and the global one), or only the global one.

        Returns False when it was already listed. Live flows of the tenant that
        write to it end as opt_out.
        """
        normalised = self._normalise(kind, value)
        value_hash = self._cipher.lookup_hash(kind, normalised)
        now = self._clock()
        if tenant_id is None:
            async with self._uow.host() as scope:
                added = await repository(scope).add_opt_out(None, kind, value_hash, "host")
            log.info("opt_out_recorded", scope="global", kind=kind, actor=actor.label)
            return added
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            added = await repo.add_opt_out(tenant_id, kind, value_hash, "request")
            await repo.add_opt_out(None, kind, value_hash, "request")
            flow_ids = [] if kind == "cnpj" else await repo.flows_by_contact([value_hash])
            for flow_id in flow_ids:
                stored = await repo.flow(flow_id, for_update=True)
                if stored is None or stored.flow.finished:
                    continue
                flow = machine.replied(stored.flow, Outcome.OPT_OUT, "opt_out_request")
                await repo.save_flow(flow_id, flow, now)
                await self._outcomes.conclude(scope, tenant_id, stored, flow, actor, now)
        log.info(
            "opt_out_recorded", scope="tenant", tenant_id=tenant_id, kind=kind, actor=actor.label
        )
        return added

    def _normalise(self, kind: str, value: str) -> str:
        if kind == "phone":
            check = self._checker.phone(value)
            if check.e164 is None:
                raise RuleViolation(
                    f"Telefone inválido: '{value}'.", field="phone", code="invalid_phone"
                )
            return check.e164
        if kind == "email":
            if not self._checker.email(value).usable:
                raise RuleViolation(
                    f"E-mail inválido: '{value}'.", field="email", code="invalid_email"
                )
            return value.strip().lower()
        try:
            return Cnpj.parse(value).value
        except InvalidCnpj:
            raise RuleViolation(
                f"CNPJ inválido: '{value}'.", field="cnpj", code="invalid_cnpj"
            ) from None

    async def reviews(self, actor: Actor, tenant_id: str, page: PageRequest) -> Page:
        """List unsure replies with their text; LGPD: who read which CNPJ's reply is audited."""
        async with self._uow.tenant(tenant_id) as scope:
            found = await repository(scope).reviews(page)
            if found.items:
                cnpjs = [_cnpj_of(item) for item in found.items]
                await _audit_reading(
                    scope, actor, tenant_id, "qualification.reviews_listed", {"cnpjs": cnpjs}
                )
            return found

    async def unmatched(self, actor: Actor, tenant_id: str | None, page: PageRequest) -> Page:
        """List replies from unknown senders, newest first.

        For a tenant, those that came to its numbers. For the host (``tenant_id``
        None), those that reached no tenant at all.
        """
        opened = self._uow.host() if tenant_id is None else self._uow.tenant(tenant_id)
        async with opened as scope:
            found = await repository(scope).unmatched(page)
            if found.items:
                await _audit_reading(
                    scope,
                    actor,
                    tenant_id,
                    "qualification.unmatched_listed",
                    {"count": len(found.items)},
                )
            return found

    def decrypt(self, token: bytes | None) -> str | None:
        """Return the clear text of a stored value; None when the current key cannot open it.

        A value written under another key (one rotated out) stays unreadable
        instead of failing the whole list it appears in.
        """
        if token is None:
            return None
        try:
            return self._cipher.decrypt(token)
        except ValueError:
            log.warning("personal_data_unreadable")
            return None

    async def review(
        self, actor: Actor, tenant_id: str, flow_id: str, outcome: Outcome
    ) -> StoredFlow:
        """End an unsure reply's flow with the outcome a person chose."""
        if outcome in {Outcome.NO_ANSWER, Outcome.CANCELLED}:
            raise RuleViolation(
                "Escolha qualified, not_interested, invalid ou opt_out.",
                field="outcome",
                code="invalid_review_outcome",
            )
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            stored = await repo.flow(flow_id, for_update=True)
            if stored is None:
                raise FlowNotFound()
            if stored.flow.state is not FlowState.IN_REVIEW:
                raise NotInReview()
            flow = machine.reviewed(stored.flow, outcome)
            await repo.save_flow(flow_id, flow, now)
            if outcome is Outcome.OPT_OUT and stored.phone_hash is not None:
                await self._outcomes.record_opt_out(
                    repo, tenant_id, Channel.SMS, stored.phone_hash, "review"
                )
            if outcome is Outcome.OPT_OUT and stored.email_hash is not None:
                await self._outcomes.record_opt_out(
                    repo, tenant_id, Channel.EMAIL, stored.email_hash, "review"
                )
            await self._outcomes.conclude(scope, tenant_id, stored, flow, actor, now)
            after = await repo.flow(flow_id)
        assert after is not None
        return after


async def _audit_reading(
    scope: Scope, actor: Actor, tenant_id: str | None, action: str, detail: dict[str, Any]
) -> None:
    """LGPD: who read replies, which carry personal data, and when."""
    await scope.audit.record(
        AuditEvent(action=action, actor=actor, tenant_id=tenant_id, detail=detail)
    )


def _bare(address: str) -> str:
    """Return a number without a channel prefix (``whatsapp:+55...``), an address as it is."""
    return address.removeprefix("whatsapp:").strip().lower()


def _cnpj_of(item: object) -> str:
    assert isinstance(item, ReviewItem)
    return item.cnpj
