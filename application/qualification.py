"""Qualification: contact each pre-lead of a selection, read the replies, decide, and charge only the qualified.

Starting holds one credit per pre-lead and creates one flow per pre-lead.
Workers (or n8n, when the tenant chose it) advance each due flow one step
at a time with :meth:`Qualification.advance`:

1. Under the flow's row lock, check the job, the sending hours and quiet
   hours, the opt-out lists, the tenant's daily limit and the sender pool,
   and record the send (``message_send``) before the provider is called.
   That record commits.
2. Call the provider with the send's idempotency key.
3. Record the outcome and move the flow.

A worker killed between 1 and 3 leaves the record ``sending``. Whoever finds
it later, once it is older than the lease, marks it ``unconfirmed`` and
treats the message as sent: the provider may have it, so the key is never
sent again.

A flow that ends captures the held credit (qualified, in the transaction
that creates the lead) or releases it (every other outcome).
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

import attrs
import structlog

from application.company_directory import CompanyContacts, CompanyDirectory
from application.enrichment import ContactChecker
from application.messaging import MessagingGateway, OutboundMessage, SendError, SendReceipt
from application.personal_data import PersonalDataCipher
from application.ports import Scope, UnitOfWork
from application.qualification_outcomes import (
    FlowOutcomes,
    UnsubscribeLinks,
    repository,
    tenant_in,
)
from application.qualification_ports import (
    Job,
    NewFlow,
    QualificationRepository,
    QualificationScheduler,
    Sender,
    StoredFlow,
)
from application.qualification_replies import FlowNotFound
from domain import qualification as machine
from domain.audit import SYSTEM_ACTOR, Actor
from domain.contacts import PhoneKind
from domain.credits import InsufficientCredits
from domain.errors import Conflict, NotFound, RuleViolation
from domain.qualification import (
    Channel,
    Flow,
    FlowState,
    SendFailure,
    SendingWindow,
    company_display_name,
)
from domain.qualification_settings import Orchestrator
from domain.search import Page, PageRequest
from domain.selections import PreleadStatus
from domain.tenancy import Tenant, TenantSettings

log = structlog.get_logger(__name__)

#: How long a claimed flow belongs to the worker that claimed it. A send
#: record older than this is a worker's that died.
DEFAULT_LEASE = dt.timedelta(minutes=2)
#: A hold outlives the walk: three channels, each with retries and its wait,
#: plus a week for closed days, holidays and daily limits on the way.
#: NOTE: a walk pushed back further than that loses its hold to the expiry
#: round. A qualified outcome is then charged without a hold, or waits as a
#: pending capture when no credit is free.
HOLD_MARGIN = dt.timedelta(days=7)
#: Extra time a sender's sends count against its limit. Sends are counted
#: when recorded, and reach the provider a little later (up to about 90 ms
#: under load, in the qualification benchmark), so without it a send could
#: leave the count while still inside the provider's window.
SENDER_MARGIN = dt.timedelta(milliseconds=100)
#: A job's state as the pt-BR messages name it.
_STATE_LABELS = {
    "running": "em andamento",
    "paused": "pausada",
    "cancelled": "cancelada",
    "finished": "concluída",
}
#: Selection flags of items that must not, or need not, be contacted.
_SKIPPED_FLAGS = frozenset({"already_lead", "opted_out", "in_qualification", "not_in_registry"})


class JobNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Execução de qualificação não encontrada.")


class SelectionNotFoundForJob(NotFound):
    def __init__(self) -> None:
        super().__init__("Seleção não encontrada.")


class JobStateConflict(Conflict):
    code = "job_state_conflict"


class NothingToQualify(RuleViolation):
    def __init__(self, skipped: int) -> None:
        super().__init__(
            "Nenhum pré-lead desta seleção pode ser qualificado agora: todos já são leads, "
            f"estão em qualificação, pediram para não ser contatados ou não têm contato ({skipped}).",
            code="nothing_to_qualify",
        )


class NotDue(Conflict):
    code = "not_due"

    def __init__(self) -> None:
        super().__init__("Esta qualificação não tem passo a executar agora.")


class SenderNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Remetente não encontrado.")


@attrs.frozen(kw_only=True)
class _PlannedSend:
    message: OutboundMessage
    flow: Flow
    #: The tenant's wait for a reply, read with the rest of its settings before the send.
    reply_wait: dt.timedelta


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Qualification:
    """Start, steer and drive qualification jobs, one due step at a time."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        gateway: MessagingGateway,
        directory: CompanyDirectory,
        checker: ContactChecker,
        cipher: PersonalDataCipher,
        scheduler: QualificationScheduler,
        outcomes: FlowOutcomes,
        links: UnsubscribeLinks,
        lease: dt.timedelta = DEFAULT_LEASE,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._uow = uow
        self._gateway = gateway
        self._directory = directory
        self._checker = checker
        self._cipher = cipher
        self._scheduler = scheduler
        self._outcomes = outcomes
        self._links = links
        self._lease = lease
        self._clock = clock

    # --- jobs ---------------------------------------------------------------------

    async def start(
        self, actor: Actor, tenant_id: str, selection_id: str, *, partial: bool = False
    ) -> Job:
        """Hold a credit per pre-lead that can be contacted and start their flows.

        Raises InsufficientCredits (with how many the balance covers) when the
        credits do not cover every pre-lead; nothing is held then. With
        ``partial``, the qualification starts with the pre-leads the balance
        covers, in selection order, and the others stay selected.
        """
        candidates_found = await self._candidates(tenant_id, selection_id)
        contacts = await self._directory.contacts([c.cnpj for c in candidates_found])

        now = self._clock()
        planned: list[tuple[str, NewFlow]] = []
        skipped = 0
        for candidate in candidates_found:
            company = contacts.get(candidate.cnpj)
            new_flow = self._plan_flow(candidate.prelead_id, company, now)
            if new_flow is None or new_flow.flow.finished:
                skipped += 1
                continue
            planned.append((candidate.prelead_id, new_flow))
        if not planned:
            raise NothingToQualify(len(candidates_found))

        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            tenant = await tenant_in(scope, tenant_id)
            settings = tenant.settings.qualification

            # The pre-leads are re-read under the transaction: one started by
            # a concurrent job in the meantime is left out here.
            live = {c.prelead_id for c in await repo.candidates(selection_id) if _eligible(c)}
            planned = [(prelead, new) for prelead, new in planned if prelead in live]
            if not planned:
                raise NothingToQualify(len(candidates_found))

            job_id = str(uuid.uuid4())
            holds = await scope.credits.hold(
                tenant_id,
                [prelead for prelead, _ in planned],
                job_id=job_id,
                expires_at=now + 3 * (settings.reply_wait + machine.MAX_RETRY_DELAY) + HOLD_MARGIN,
                partial=partial,
                actor=actor,
            )
            held = set(holds.held)
            planned = [(prelead, new) for prelead, new in planned if prelead in held]
            if not planned:
                balance = await scope.credits.balance(tenant_id)
                raise InsufficientCredits(
                    available=0,
                    requested=len(holds.not_covered),
                    balance=balance.balance,
                    held=balance.held,
                    qualification=True,
                )
            prelead_ids = [prelead for prelead, _ in planned]
            await repo.create_job(
                tenant_id,
                selection_id,
                job_id=job_id,
                orchestrator=settings.orchestrator.value,
                total=len(planned),
                actor=actor,
                now=now,
            )
            await repo.add_flows(tenant_id, job_id, [new for _, new in planned])
            await repo.set_prelead_status(prelead_ids, PreleadStatus.QUALIFYING, now)
            job = await _with_progress(repo, job_id)

        log.info(
            "qualification_started",
            tenant_id=tenant_id,
            job_id=job_id,
            flows=len(planned),
            skipped=skipped,
            orchestrator=settings.orchestrator.value,
        )
        if settings.orchestrator is Orchestrator.BUILTIN:
            self._scheduler.kick()
        return job

    async def job(self, tenant_id: str, job_id: str) -> Job:
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            job = await repo.job(job_id)
            if job is None:
                raise JobNotFound()
            return attrs.evolve(job, progress=await repo.progress(job_id))

    async def jobs(self, tenant_id: str, page: PageRequest, selection_id: str | None) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            return await repository(scope).jobs(page, selection_id)

    async def pause(self, actor: Actor, tenant_id: str, job_id: str) -> Job:
        return await self._change_state(actor, tenant_id, job_id, "paused", {"running"})

    async def resume(self, actor: Actor, tenant_id: str, job_id: str) -> Job:
        job = await self._change_state(actor, tenant_id, job_id, "running", {"paused"})
        # Sends parked while paused (for hours that may have changed since) are
        # checked again at once.
        async with self._uow.tenant(tenant_id) as scope:
            await repository(scope).wake_waiting_sends(self._clock(), job_id=job_id)
        if job.orchestrator == Orchestrator.BUILTIN.value:
            self._scheduler.kick()
        return job

    async def cancel(self, actor: Actor, tenant_id: str, job_id: str) -> Job:
        """End every unfinished flow without a charge and release its hold."""
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            job = await repo.job(job_id, for_update=True)
            if job is None:
                raise JobNotFound()
            if job.state not in {"running", "paused"}:
                raise JobStateConflict(
                    f"Esta execução já está {_STATE_LABELS[job.state]} e não pode ser cancelada."
                )
            await repo.set_job_state(job_id, "cancelled", now, finished=True)

        # The flows end in a transaction of their own: a step holding a flow's
        # lock waits on the job's row, so taking both here could deadlock.
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            for flow_id in await repo.live_flow_ids(job_id):
                stored = await repo.flow(flow_id, for_update=True)
                if stored is None or stored.flow.finished:
                    continue
                ended = machine.cancelled(stored.flow)
                await repo.save_flow(flow_id, ended, now)
                await self._outcomes.conclude(
                    scope, tenant_id, stored, ended, actor, now, job_done=False
                )
            job = await _with_progress(repo, job_id)
        log.info("qualification_cancelled", tenant_id=tenant_id, job_id=job_id)
        return job

    async def _change_state(
        self, actor: Actor, tenant_id: str, job_id: str, state: str, allowed: set[str]
    ) -> Job:
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            job = await repo.job(job_id, for_update=True)
            if job is None:
                raise JobNotFound()
            if job.state != state:
                if job.state not in allowed:
                    raise JobStateConflict(
                        f"Esta execução está {_STATE_LABELS[job.state]} e não pode ficar "
                        f"{_STATE_LABELS[state]}."
                    )
                await repo.set_job_state(job_id, state, now)
            job = await _with_progress(repo, job_id)
        log.info(
            "qualification_job_state",
            tenant_id=tenant_id,
            job_id=job_id,
            state=state,
            actor=actor.label,
        )
        return job

    async def _candidates(self, tenant_id: str, selection_id: str) -> list[Any]:
        async with self._uow.tenant(tenant_id) as scope:
            if await scope.selections.get(selection_id) is None:
                raise SelectionNotFoundForJob()
            return [c for c in await repository(scope).candidates(selection_id) if _eligible(c)]

    def _plan_flow(
        self, prelead_id: str, company: CompanyContacts | None, now: dt.datetime
    ) -> NewFlow | None:
        if company is None:
            return None
        mobile = next(
            (
                check.e164
                for check in (self._checker.phone(phone) for phone in company.phones)
                if check.e164 is not None and check.kind is PhoneKind.MOBILE
            ),
            None,
        )
        email = company.email
        if email is not None and not self._checker.email(email).usable:
            email = None
        flow = machine.start(
            prelead_id,
            machine.Reachability(mobile=mobile is not None, email=email is not None),
            now,
            flow_id=str(uuid.uuid4()),
        )
        return NewFlow(
            flow=flow,
            phone_encrypted=None if mobile is None else self._cipher.encrypt(mobile),
            phone_hash=None if mobile is None else self._cipher.lookup_hash("phone", mobile),
            email_encrypted=None if email is None else self._cipher.encrypt(email),
            email_hash=None if email is None else self._cipher.lookup_hash("email", email),
        )

    # --- driving the flows --------------------------------------------------------

    async def dispatch(self, *, limit: int = 200) -> int:
        """Claim the due flows of running built-in jobs and queue one step for each."""
        now = self._clock()
        async with self._uow.unscoped() as scope:
            jobs = await repository(scope).due_jobs(now, 100)
        queued = 0
        for tenant_id, job_id in jobs:
            async with self._uow.tenant(tenant_id) as scope:
                flow_ids = await repository(scope).claim_due(job_id, now, now + self._lease, limit)
            for flow_id in flow_ids:
                self._scheduler.advance(tenant_id, flow_id)
            queued += len(flow_ids)
        return queued

    async def due_steps(self, tenant_id: str, page: PageRequest) -> Page:
        """Return the steps due now, oldest first, for an external orchestrator."""
        async with self._uow.tenant(tenant_id) as scope:
            return await repository(scope).due_steps(self._clock(), page)

    async def advance_now(self, tenant_id: str, flow_id: str) -> StoredFlow:
        """Run a flow's due step for an external orchestrator; NotDue when none is due."""
        async with self._uow.tenant(tenant_id) as scope:
            stored = await repository(scope).flow(flow_id)
        if stored is None:
            raise FlowNotFound()
        due = stored.flow.next_action_at
        if (
            stored.flow.state not in {FlowState.SENDING, FlowState.AWAITING_REPLY}
            or stored.job_state != "running"
            or due is None
            or due > self._clock()
        ):
            raise NotDue()
        await self.advance(tenant_id, flow_id)
        async with self._uow.tenant(tenant_id) as scope:
            after = await repository(scope).flow(flow_id)
        assert after is not None
        return after

    async def flow(self, tenant_id: str, flow_id: str) -> StoredFlow:
        async with self._uow.tenant(tenant_id) as scope:
            stored = await repository(scope).flow(flow_id)
        if stored is None:
            raise FlowNotFound()
        return stored

    async def advance(self, tenant_id: str, flow_id: str) -> None:
        """Run the step a flow is due for: the wait's end, a send, or both."""
        planned = await self._prepare(tenant_id, flow_id)
        if planned is None:
            return

        receipt: SendReceipt | None = None
        error: SendError | None = None
        try:
            receipt = await self._gateway.send(planned.message)
        except SendError as failed:
            error = failed
        except Exception as unexpected:  # noqa: BLE001 - any crash of a gateway is a send that may pass
            log.exception("qualification_send_crashed", tenant_id=tenant_id, flow_id=flow_id)
            error = SendError(SendFailure.RETRYABLE, "gateway_error", str(unexpected))

        await self._record(tenant_id, flow_id, planned, receipt, error)

    async def _prepare(self, tenant_id: str, flow_id: str) -> _PlannedSend | None:
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            stored = await repo.flow(flow_id, for_update=True)
            if stored is None or stored.flow.finished:
                return None
            flow = stored.flow
            if stored.job_state != "running" or flow.next_action_at is None:
                await repo.save_flow(flow_id, flow, now)
                return None
            if flow.next_action_at > now:
                await repo.save_flow(flow_id, flow, now)
                return None

            tenant = await tenant_in(scope, tenant_id)
            settings = tenant.settings.qualification

            if flow.state is FlowState.AWAITING_REPLY:
                flow = machine.reply_waited_out(flow, now)
                if flow.finished:
                    await repo.save_flow(flow_id, flow, now)
                    await self._outcomes.conclude(scope, tenant_id, stored, flow, SYSTEM_ACTOR, now)
                    return None
            if flow.state is not FlowState.SENDING:
                await repo.save_flow(flow_id, flow, now)
                return None

            # A send of this key was recorded before: never send it again.
            record = await repo.send_record(flow.idempotency_key)
            if record is not None:
                settled = await self._settle_earlier_send(
                    repo, stored, flow, record, now, settings.reply_wait
                )
                if settled is None:
                    return None
                await repo.save_flow(flow_id, settled, now)
                if settled.finished:
                    await self._outcomes.conclude(
                        scope, tenant_id, stored, settled, SYSTEM_ACTOR, now
                    )
                return None

            window = settings.window(tenant.settings.timezone)
            opening = next_sending_moment(tenant.settings, window, now)
            if opening > now:
                await repo.save_flow(flow_id, attrs.evolve(flow, next_action_at=opening), now)
                return None

            if await self._opted_out(scope, stored):
                flow = machine.opted_out(flow)
                await repo.save_flow(flow_id, flow, now)
                await self._outcomes.conclude(scope, tenant_id, stored, flow, SYSTEM_ACTOR, now)
                return None

            # Everything but the sender is ready before the lock, which every
            # send of the tenant waits on.
            assert flow.channel is not None
            message = await self._message(tenant, stored, flow)

            if await repo.job_state_for_send(stored.job_id) != "running":
                await repo.save_flow(flow_id, flow, now)
                return None

            await repo.lock_sending()
            # The limits count sends by this time, so it is read once the lock
            # is held, because the provider receives the message right after the commit.
            now = self._clock()
            zone = zoneinfo.ZoneInfo(tenant.settings.timezone)
            local_midnight = dt.datetime.combine(now.astimezone(zone).date(), dt.time(), zone)
            if await repo.sends_since(local_midnight) >= settings.daily_limit:
                tomorrow = next_sending_moment(
                    tenant.settings, window, local_midnight + dt.timedelta(days=1)
                )
                await repo.save_flow(flow_id, attrs.evolve(flow, next_action_at=tomorrow), now)
                log.info(
                    "qualification_daily_limit", tenant_id=tenant_id, until=tomorrow.isoformat()
                )
                return None

            sender, free_at = await self._pick_sender(repo, flow.channel, now)
            if free_at is not None:
                await repo.save_flow(flow_id, attrs.evolve(flow, next_action_at=free_at), now)
                return None

            if sender is not None:
                # The provider names a sender its own way (Meta by phone number
                # id); the limits count by address.
                message = attrs.evolve(message, sender=sender.provider_ref or sender.address)
            await repo.begin_send(
                tenant_id,
                flow.idempotency_key,
                flow_id=flow_id,
                channel=flow.channel,
                sender=None if sender is None else sender.address,
                now=now,
            )
            await repo.save_flow(flow_id, flow, now, lease_until=now + self._lease)
            return _PlannedSend(message=message, flow=flow, reply_wait=settings.reply_wait)

    async def _settle_earlier_send(
        self,
        repo: QualificationRepository,
        stored: StoredFlow,
        flow: Flow,
        record: Any,
        now: dt.datetime,
        wait: dt.timedelta,
    ) -> Flow | None:
        if record.state == "sending" and record.created_at > now - self._lease:
            # Another worker is sending it right now.
            return None
        # NOTE: at most once, not exactly once. A worker that died after the
        # record but before the provider got the message leaves a send that
        # counts as made; the flow then waits out its reply time and moves on.
        if record.state in {"sending", "unconfirmed"}:
            if record.state == "sending":
                await repo.finish_send(
                    flow.idempotency_key,
                    state="unconfirmed",
                    provider=None,
                    provider_message_id=None,
                    interaction_id=None,
                    error_code=None,
                    now=now,
                )
                log.warning(
                    "qualification_send_unconfirmed",
                    tenant_id=stored.tenant_id,
                    flow_id=stored.id,
                    idempotency_key=flow.idempotency_key,
                )
            return machine.sent(flow, now, wait)
        if record.state == "sent":
            return machine.sent(flow, now, wait)
        return machine.send_failed(flow, SendFailure.RETRYABLE, now)

    async def _pick_sender(
        self, repo: QualificationRepository, channel: Channel, now: dt.datetime
    ) -> tuple[Sender | None, dt.datetime | None]:
        """Return the sender with the most room, or when one will have room again.

        A tenant without a pool for the channel sends from the gateway's default sender.
        """
        loads = [
            load
            for load in await repo.sender_loads(channel, now, SENDER_MARGIN)
            if load.sender.active
        ]
        if not loads:
            return None, None
        free = [load for load in loads if load.used < load.sender.limit_per_period]
        if free:
            best = min(
                free,
                key=lambda load: (load.used / load.sender.limit_per_period, load.sender.created_at),
            )
            return best.sender, None
        soonest = min(
            (load.oldest or now) + dt.timedelta(seconds=load.sender.period_seconds) + SENDER_MARGIN
            for load in loads
        )
        return None, max(soonest, now + dt.timedelta(milliseconds=10))

    async def _message(self, tenant: Tenant, stored: StoredFlow, flow: Flow) -> OutboundMessage:
        """Build the flow's current message; the sender is chosen later, under the lock."""
        company = (await self._directory.contacts([stored.cnpj])).get(stored.cnpj)
        name = company_display_name(company.trade_name, company.legal_name) if company else None
        values = {"empresa": name or "sua empresa", "remetente": tenant.name, "nome": ""}
        templates = tenant.settings.templates
        assert flow.channel is not None

        if flow.channel is Channel.EMAIL:
            assert stored.email_encrypted is not None
            to = self._cipher.decrypt(stored.email_encrypted)
            unsubscribe = self._links.url(tenant.id, to)
            return OutboundMessage(
                tenant_id=tenant.id,
                channel=flow.channel,
                to=to,
                body=_fill(templates["email_body"], values),
                subject=_fill(templates["email_subject"], values),
                idempotency_key=flow.idempotency_key,
                variables={**values, "unsubscribe_url": unsubscribe},
            )

        assert stored.phone_encrypted is not None
        to = self._cipher.decrypt(stored.phone_encrypted)
        if flow.channel is Channel.WHATSAPP:
            return OutboundMessage(
                tenant_id=tenant.id,
                channel=flow.channel,
                to=to,
                body=_fill(templates["whatsapp_intro"], values),
                idempotency_key=flow.idempotency_key,
                template=tenant.settings.qualification.whatsapp_template,
                variables=values,
            )
        return OutboundMessage(
            tenant_id=tenant.id,
            channel=flow.channel,
            to=to,
            body=_fill(templates["sms_intro"], values),
            idempotency_key=flow.idempotency_key,
            variables=values,
        )

    async def _record(
        self,
        tenant_id: str,
        flow_id: str,
        planned: _PlannedSend,
        receipt: SendReceipt | None,
        error: SendError | None,
    ) -> None:
        now = self._clock()
        key = planned.message.idempotency_key
        async with self._uow.tenant(tenant_id) as scope:
            repo = repository(scope)
            stored = await repo.flow(flow_id, for_update=True)
            assert stored is not None

            if receipt is not None:
                interaction_id = await repo.add_interaction(
                    tenant_id,
                    prelead_id=stored.flow.prelead_id,
                    channel=planned.message.channel,
                    direction="outbound",
                    content_encrypted=self._cipher.encrypt(planned.message.body),
                    provider=receipt.provider,
                    provider_message_id=receipt.provider_message_id,
                    status="sent",
                    occurred_at=now,
                )
                await repo.finish_send(
                    key,
                    state="sent",
                    provider=receipt.provider,
                    provider_message_id=receipt.provider_message_id,
                    interaction_id=interaction_id,
                    error_code=None,
                    now=now,
                )
            else:
                assert error is not None
                await repo.finish_send(
                    key,
                    state="failed",
                    provider=None,
                    provider_message_id=None,
                    interaction_id=None,
                    error_code=error.code,
                    now=now,
                )
                log.info(
                    "qualification_send_failed",
                    tenant_id=tenant_id,
                    flow_id=flow_id,
                    channel=planned.message.channel.value,
                    failure=error.failure.value,
                    code=error.code,
                )

            # A reply, a cancellation or a pause may have moved the flow during the send.
            if stored.flow != planned.flow:
                await repo.save_flow(flow_id, stored.flow, now)
                return
            if receipt is not None:
                flow = machine.sent(stored.flow, now, planned.reply_wait)
            else:
                assert error is not None
                flow = machine.send_failed(stored.flow, error.failure, now)
            await repo.save_flow(flow_id, flow, now)
            if flow.finished:
                await self._outcomes.conclude(scope, tenant_id, stored, flow, SYSTEM_ACTOR, now)
        due_now = flow.next_action_at is not None and flow.next_action_at <= now
        if due_now and not flow.finished and stored.job_orchestrator == Orchestrator.BUILTIN:
            # The next channel is due at once; do not wait for the next round.
            self._scheduler.advance(tenant_id, flow_id)

    async def _opted_out(self, scope: Scope, stored: StoredFlow) -> bool:
        hashes: list[tuple[str, bytes]] = [("cnpj", self._cipher.lookup_hash("cnpj", stored.cnpj))]
        if stored.phone_hash is not None:
            hashes.append(("phone", stored.phone_hash))
        if stored.email_hash is not None:
            hashes.append(("email", stored.email_hash))
        return bool(await scope.opt_outs.matching(hashes))

    # --- sender pool --------------------------------------------------------------

    async def senders(self, tenant_id: str, page: PageRequest) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            return await repository(scope).senders(page)

    async def add_sender(
        self,
        tenant_id: str,
        *,
        channel: Channel,
        address: str,
        limit_per_period: int,
        period_seconds: int,
        provider_ref: str | None = None,
    ) -> Sender:
        if channel is Channel.EMAIL:
            if not self._checker.email(address).usable:
                raise RuleViolation(
                    f"E-mail de remetente inválido: '{address}'.",
                    field="address",
                    code="invalid_sender",
                )
            address = address.strip().lower()
        else:
            check = self._checker.phone(address)
            if check.e164 is None:
                raise RuleViolation(
                    f"Número de remetente inválido: '{address}'.",
                    field="address",
                    code="invalid_sender",
                )
            address = check.e164
        if not 1 <= limit_per_period <= 100_000 or not 1 <= period_seconds <= 86_400:
            raise RuleViolation(
                "O limite vai de 1 a 100000 mensagens por período de 1 a 86400 segundos.",
                field="limit_per_period",
                code="invalid_sender_limit",
            )
        async with self._uow.tenant(tenant_id) as scope:
            return await repository(scope).add_sender(
                tenant_id, channel, address, provider_ref, limit_per_period, period_seconds
            )

    async def remove_sender(self, tenant_id: str, sender_id: str) -> None:
        async with self._uow.tenant(tenant_id) as scope:
            if not await repository(scope).remove_sender(sender_id):
                raise SenderNotFound()


async def _with_progress(repo: QualificationRepository, job_id: str) -> Job:
    """Read a job known to exist, with its progress counted now."""
    job = await repo.job(job_id)
    assert job is not None
    return attrs.evolve(job, progress=await repo.progress(job_id))


def next_sending_moment(
    settings: TenantSettings, window: SendingWindow, moment: dt.datetime
) -> dt.datetime:
    """Return ``moment`` when a message may go out then, else the next moment one may.

    Both the qualification's sending hours and the tenant's quiet hours apply;
    each jump past one of them is checked against the other again.
    """
    zone = zoneinfo.ZoneInfo(settings.timezone)
    quiet = settings.quiet_hours
    for _jump in range(8):
        moment = window.next_opening(moment)
        local = moment.astimezone(zone)
        if quiet is None or not quiet.contains(local.time().replace(tzinfo=None)):
            return moment
        end = dt.datetime.combine(local.date(), quiet.end, zone)
        if end <= local:
            end += dt.timedelta(days=1)
        moment = end
    return moment


def _eligible(candidate: Any) -> bool:
    return candidate.status in {PreleadStatus.SELECTED, PreleadStatus.NO_ANSWER} and not (
        set(candidate.flags) & _SKIPPED_FLAGS
    )


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _fill(template: str, values: dict[str, str]) -> str:
    return template.format_map(_Blank(values))
