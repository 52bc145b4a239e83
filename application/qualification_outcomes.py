"""The end of a flow, whatever ends it: the charge or release, the job's end, opt-outs, links.

A flow ends from a send (no channel left), a reply, a delivery report, a
person's review, an opt-out or a cancelled job. Each ends it the same way,
in the caller's tenant transaction, through :class:`FlowOutcomes`.
"""

from __future__ import annotations

import datetime as dt
import hmac

import structlog

from application.company_directory import CompanyDirectory
from application.events import publish
from application.leads import LeadDraft, LeadIntake
from application.personal_data import PersonalDataCipher
from application.ports import Scope
from application.qualification_ports import Job, QualificationRepository, StoredFlow
from domain.audit import Actor
from domain.credits import ReleaseReason
from domain.leads import Classification, LeadOrigin
from domain.qualification import Channel, Flow, Outcome
from domain.selections import PreleadStatus
from domain.tenancy import Tenant

log = structlog.get_logger(__name__)

_OUTCOME_STATUS = {
    Outcome.QUALIFIED: PreleadStatus.QUALIFIED,
    Outcome.NOT_INTERESTED: PreleadStatus.NOT_INTERESTED,
    Outcome.INVALID: PreleadStatus.INVALID,
    Outcome.OPT_OUT: PreleadStatus.OPT_OUT,
    Outcome.NO_ANSWER: PreleadStatus.NO_ANSWER,
    Outcome.CANCELLED: PreleadStatus.SELECTED,
}


def repository(scope: Scope) -> QualificationRepository:
    return scope.qualification


async def tenant_in(scope: Scope, tenant_id: str) -> Tenant:
    tenant = await scope.tenants.get(tenant_id)
    assert tenant is not None, "a tenant scope always sees its tenant"
    return tenant


class FlowOutcomes:
    """Charge or release a finished flow's credit, and finish its job when it was the last."""

    def __init__(self, directory: CompanyDirectory, intake: LeadIntake) -> None:
        self._directory = directory
        self._intake = intake

    async def conclude(
        self,
        scope: Scope,
        tenant_id: str,
        stored: StoredFlow,
        flow: Flow,
        actor: Actor,
        now: dt.datetime,
        *,
        job_done: bool = True,
    ) -> None:
        """Charge or release the pre-lead's credit for the outcome, in the caller's transaction."""
        assert flow.outcome is not None
        repo = repository(scope)
        prelead_id = flow.prelead_id

        if flow.outcome is Outcome.QUALIFIED:
            company = (await self._directory.contacts([stored.cnpj])).get(stored.cnpj)
            draft = LeadDraft(
                cnpj=stored.cnpj,
                origin=LeadOrigin.QUALIFICATION,
                company_name=company.legal_name if company else None,
                trade_name=company.trade_name if company else None,
                cnae=company.cnae_primary if company else None,
                uf=company.uf if company else None,
                municipality_ibge=company.ibge_code if company else None,
                phones=company.phones if company else (),
                emails=(company.email,) if company and company.email else (),
                contact_source=company.source if company else "registry",
                prelead_id=prelead_id,
                classification=Classification.QUALIFIED,
                classification_rule=flow.rule,
            )
            admission = await self._intake.admit(scope, scope.leads, draft, actor)
            await scope.credits.capture(
                tenant_id, prelead_id, lead_reference=admission.lead.id, actor=actor
            )
            await repo.link_interactions(prelead_id, admission.lead.id)
        else:
            await scope.credits.release(
                tenant_id,
                prelead_id=prelead_id,
                reason=ReleaseReason(flow.outcome.value),
                actor=actor,
            )
        await repo.set_prelead_status([prelead_id], _OUTCOME_STATUS[flow.outcome], now)
        log.info(
            "qualification_flow_done",
            tenant_id=tenant_id,
            flow_id=stored.id,
            outcome=flow.outcome.value,
            reason=flow.reason,
            rule=flow.rule,
        )

        if not job_done:
            return
        # The job's row is locked before counting, so of two last flows ending
        # at once, the second counts after the first has committed.
        job = await repo.job(stored.job_id, for_update=True)
        if job is not None and job.state in {"running", "paused"}:
            if await repo.unfinished_flows(stored.job_id) == 0:
                await self._finish_job(scope, tenant_id, job, now)

    async def _finish_job(self, scope: Scope, tenant_id: str, job: Job, now: dt.datetime) -> None:
        repo = repository(scope)
        await repo.set_job_state(job.id, "finished", now, finished=True)
        progress = await repo.progress(job.id)
        await publish(
            scope,
            tenant_id,
            "selection.qualification_finished",
            {
                "job_id": job.id,
                "selection_id": job.selection_id,
                "total": progress.total,
                "outcomes": dict(progress.outcomes),
            },
            now,
        )

    async def record_opt_out(
        self,
        repo: QualificationRepository,
        tenant_id: str,
        channel: Channel,
        value_hash: bytes,
        source: str,
    ) -> None:
        kind = "email" if channel is Channel.EMAIL else "phone"
        # The tenant's list and the global one: no tenant may write to the contact again.
        await repo.add_opt_out(tenant_id, kind, value_hash, source)
        await repo.add_opt_out(None, kind, value_hash, source)


class UnsubscribeLinks:
    """The signed unsubscribe link in every e-mail; the link alone is enough to stop the address."""

    def __init__(self, cipher: PersonalDataCipher, public_base_url: str | None) -> None:
        self._cipher = cipher
        self._public_base_url = (public_base_url or "").rstrip("/")

    def token(self, tenant_id: str, email: str) -> str:
        address = email.strip().lower()
        payload = f"{tenant_id}:{self._cipher.lookup_hash('email', address).hex()}"
        mac = self._cipher.lookup_hash("unsubscribe", payload).hex()[:32]
        return f"{payload.replace(':', '.')}.{mac}"

    def url(self, tenant_id: str, email: str) -> str:
        base = self._public_base_url or "http://127.0.0.1:8080"
        return f"{base}/v1/unsubscribe/{self.token(tenant_id, email)}"

    def verify(self, token: str) -> tuple[str, bytes] | None:
        """Return the tenant and the e-mail hash a token names; None when Garimpo did not make it."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        tenant_id, email_hash_hex, mac = parts
        expected = self._cipher.lookup_hash("unsubscribe", f"{tenant_id}:{email_hash_hex}")
        if not hmac.compare_digest(expected.hex()[:32], mac):
            return None
        try:
            return tenant_id, bytes.fromhex(email_hash_hex)
        except ValueError:
            return None
