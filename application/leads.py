"""Leads: admission without duplicates, the CRM list, edits and pipeline moves.

Two things create a lead: qualification (``LeadIntake.admit`` inside the
transaction that captures the pre-lead's credit) and a manual import, which
costs nothing and is marked manual. Both go through the same admission, so
the dedup rules hold whichever way a lead arrives:

- one lead per tenant and CNPJ: a second admission returns the first lead;
- a lead of another CNPJ that shares a normalised phone or e-mail with an
  earlier lead is admitted flagged as a possible duplicate, outside the
  pipeline lists, until someone resolves it.

Contacts are stored encrypted with a keyed hash beside each value; dedup and
opt-out compare the hashes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

import attrs

from application.company_directory import CompanyContacts, CompanyDirectory
from application.enrichment import ContactChecker
from application.events import publish
from application.personal_data import PersonalDataCipher
from application.ports import Scope, UnitOfWork
from domain.audit import Actor, AuditEvent
from domain.cnpj import Cnpj
from domain.errors import InvalidCnpj, NotFound, RuleViolation
from domain.leads import (
    Classification,
    DuplicateResolution,
    Lead,
    LeadContact,
    LeadEventKind,
    LeadField,
    LeadFilter,
    LeadOrigin,
    Pipeline,
    ReviewStatus,
    check_notes,
    closing_reason,
    merge_custom_fields,
    normalise_tags,
    search_text,
)
from domain.search import Page, PageRequest
from domain.tenancy import DEFAULT_TIMEZONE

#: Rows of one manual import request.
MAX_IMPORT_ROWS = 1000
MAX_CONTACTS_PER_KIND = 10


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen
class StoredContact:
    """A contact as the repository keeps it: encrypted, with its lookup hash."""

    kind: str
    value_encrypted: bytes
    value_hash: bytes
    valid: bool
    source: str
    phone_type: str | None = None
    whatsapp: str = "unknown"
    problem: str | None = None


@attrs.frozen
class RawContact:
    """A phone or e-mail as typed or imported, before any check."""

    kind: str
    value: str
    source: str


@attrs.frozen(kw_only=True)
class LeadDraft:
    """The facts known about a company when it is admitted as a lead."""

    cnpj: str
    origin: LeadOrigin
    company_name: str | None = None
    trade_name: str | None = None
    cnae: str | None = None
    uf: str | None = None
    municipality_ibge: str | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    contact_source: str = "registry"
    #: Contacts from another source than ``contact_source``, after the ones above.
    extra_contacts: tuple[RawContact, ...] = ()
    prelead_id: str | None = None
    classification: Classification | None = None
    classification_rule: str | None = None
    owner_id: str | None = None
    tags: tuple[str, ...] = ()


@attrs.frozen
class Admission:
    lead: Lead
    #: False when the tenant already had a lead for the CNPJ (``lead`` is that one).
    created: bool
    #: The contacts stored with a created lead.
    contacts: tuple[StoredContact, ...] = ()


#: Marks an attribute of a partial update that the request left out.
UNSET: Any = object()


@attrs.frozen(kw_only=True)
class LeadChanges:
    """A partial update; attributes left as UNSET keep their value."""

    owner_id: Any = UNSET
    notes: Any = UNSET
    tags: Any = UNSET
    custom_fields: Any = UNSET


class LeadRepository(Protocol):
    async def lock_intake(self) -> None:
        """Serialise admissions of this tenant until the transaction ends."""
        ...

    async def find_by_cnpj(self, cnpj: str) -> Lead | None: ...

    async def get(self, lead_id: str, *, for_update: bool = False) -> Lead | None:
        """Return the lead without its stored contacts (see ``contacts``)."""
        ...

    async def contacts(self, lead_ids: Sequence[str]) -> dict[str, list[StoredContact]]: ...

    async def sharing_contacts(self, hashes: Sequence[tuple[str, bytes]]) -> list[str]:
        """Ids of unmerged leads holding any (kind, hash): reviewed ones first, then oldest first."""
        ...

    async def add(self, lead: Lead, text: str, contacts: Sequence[StoredContact]) -> bool:
        """Insert the lead and its contacts; False when the CNPJ already has a lead."""
        ...

    async def save(self, lead: Lead, text: str) -> None: ...

    async def add_event(
        self,
        lead_id: str,
        kind: LeadEventKind,
        actor: Actor,
        at: dt.datetime,
        *,
        from_stage_id: str | None = None,
        to_stage_id: str | None = None,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None: ...

    async def list(self, where: LeadFilter, page: PageRequest) -> Page: ...

    def export(self, where: LeadFilter) -> AsyncIterator[Lead]:
        """Yield every matching lead, oldest first, read with a server-side cursor."""
        ...

    async def leads_by_cnpj(self, cnpjs: Sequence[str]) -> dict[str, str]:
        """Lead id per CNPJ, for the CNPJs that already have a lead."""
        ...

    async def account_in_tenant(self, account_id: str) -> bool:
        """True when the id names an active user of this tenant."""
        ...

    async def absorb_contacts(self, lead_id: str, merged_id: str) -> None:
        """Copy the merged lead's contacts to ``lead_id``, skipping those it already has."""
        ...

    async def stage_names(self) -> dict[str, str]:
        """Name of every stage of every pipeline of the tenant, by stage id."""
        ...

    async def owner_names(self) -> dict[str, str]:
        """Name of every user of the tenant, by account id."""
        ...


def _actor_data(actor: Actor) -> dict[str, Any]:
    return {"type": str(actor.type), "id": actor.id, "label": actor.label}


class LeadIntake:
    """Admit a company as a lead, enforcing the dedup rules; runs inside a tenant scope."""

    def __init__(
        self, checker: ContactChecker, cipher: PersonalDataCipher, clock: Any = _now
    ) -> None:
        self._checker = checker
        self._cipher = cipher
        self._clock = clock

    def contacts(self, draft: LeadDraft) -> list[StoredContact]:
        """Normalise, check and encrypt the draft's phones and e-mails; drop repeats.

        The first occurrence of a value wins, so the draft's own contacts keep
        their source when the registry lists the same number.
        """
        raw_contacts = [
            *(RawContact("phone", value, draft.contact_source) for value in draft.phones),
            *(RawContact("email", value, draft.contact_source) for value in draft.emails),
            *draft.extra_contacts,
        ]
        stored: dict[tuple[str, bytes], StoredContact] = {}
        per_kind: dict[str, int] = {}
        for raw in raw_contacts:
            if per_kind.get(raw.kind, 0) >= MAX_CONTACTS_PER_KIND:
                continue
            contact = self._checked(raw)
            if (contact.kind, contact.value_hash) not in stored:
                stored[(contact.kind, contact.value_hash)] = contact
                per_kind[raw.kind] = per_kind.get(raw.kind, 0) + 1
        return list(stored.values())

    def _checked(self, raw: RawContact) -> StoredContact:
        if raw.kind == "phone":
            phone = self._checker.phone(raw.value)
            value = phone.e164 or raw.value.strip()
            return StoredContact(
                kind="phone",
                value_encrypted=self._cipher.encrypt(value),
                value_hash=self._cipher.lookup_hash("phone", value),
                valid=phone.usable,
                source=raw.source,
                phone_type=phone.kind.value if phone.kind else None,
                problem=phone.problem.value if phone.problem else None,
            )
        email = self._checker.email(raw.value)
        value = (email.normalized or raw.value.strip()).lower()
        return StoredContact(
            kind="email",
            value_encrypted=self._cipher.encrypt(value),
            value_hash=self._cipher.lookup_hash("email", value),
            valid=email.usable,
            source=raw.source,
            problem=email.problem.value if email.problem else None,
        )

    async def admit(
        self,
        scope: Scope,
        leads: LeadRepository,
        draft: LeadDraft,
        actor: Actor,
        *,
        pipeline: Pipeline | None = None,
    ) -> Admission:
        """Admit ``draft`` in the scope's transaction; ``pipeline`` spares a batch its lookups."""
        await leads.lock_intake()
        # Read the clock after the lock, so creation times follow the order
        # in which admissions really happened.
        now = self._clock()

        existing = await leads.find_by_cnpj(draft.cnpj)
        if existing is not None:
            return Admission(existing, created=False)

        contacts = self.contacts(draft)
        # Only valid contacts mark two companies as one: a placeholder such as
        # an invalid "0000-0000" shared by many rows must not merge them.
        hashes = [(contact.kind, contact.value_hash) for contact in contacts if contact.valid]
        sharing = await leads.sharing_contacts(hashes) if hashes else []

        if pipeline is None:
            pipeline = await scope.pipelines.default()
        stage = pipeline.entry_stage(draft.origin)
        lead = Lead(
            id=str(uuid.uuid4()),
            cnpj=draft.cnpj,
            origin=draft.origin,
            pipeline_id=pipeline.id,
            stage_id=stage.id,
            stage_entered_at=now,
            created_at=now,
            updated_at=now,
            prelead_id=draft.prelead_id,
            owner_id=draft.owner_id,
            classification=draft.classification,
            classification_rule=draft.classification_rule,
            company_name=draft.company_name,
            trade_name=draft.trade_name,
            cnae=draft.cnae,
            uf=draft.uf,
            municipality_ibge=draft.municipality_ibge,
            tags=normalise_tags(draft.tags),
            review_status=ReviewStatus.POSSIBLE_DUPLICATE if sharing else None,
            duplicate_of=sharing[0] if sharing else None,
        )
        if not await leads.add(lead, search_text(lead), contacts):
            # Another transaction won the CNPJ between the check and the insert.
            found = await leads.find_by_cnpj(draft.cnpj)
            assert found is not None
            return Admission(found, created=False)

        await leads.add_event(
            lead.id, LeadEventKind.CREATED, actor, now, to_stage_id=stage.id,
            data={"origin": str(draft.origin)},
        )  # fmt: skip
        if sharing:
            await leads.add_event(
                lead.id, LeadEventKind.DUPLICATE_FLAGGED, actor, now,
                data={"duplicate_of": sharing[0], "sharing": sharing[:10]},
            )  # fmt: skip

        tenant_id = scope.tenant_id or ""
        if draft.origin is LeadOrigin.QUALIFICATION:
            await publish(scope, tenant_id, "lead.qualified", lead_payload(lead, stage.name), now)
        return Admission(lead, created=True, contacts=tuple(contacts))


def lead_payload(lead: Lead, stage_name: str) -> dict[str, Any]:
    """Build the lead fields of a webhook event, without contacts, which stay in Garimpo."""
    return {
        "lead_id": lead.id,
        "cnpj": lead.cnpj,
        "company_name": lead.company_name,
        "origin": str(lead.origin),
        "pipeline_id": lead.pipeline_id,
        "stage_id": lead.stage_id,
        "stage_name": stage_name,
        "classification": str(lead.classification) if lead.classification else None,
        "possible_duplicate": lead.review_status is ReviewStatus.POSSIBLE_DUPLICATE,
    }


@attrs.frozen
class ImportRow:
    cnpj: str
    company_name: str | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@attrs.frozen
class ImportOutcome:
    position: int
    cnpj: str
    #: created, already_lead or possible_duplicate.
    result: str
    lead_id: str
    duplicate_of: str | None = None
    #: Contacts stored with the lead that failed their check (invalid or disposable).
    invalid_contacts: int = 0


@attrs.frozen
class ExportLabels:
    """The names an export shows in place of a lead's ids."""

    timezone: str
    stage_names: Mapping[str, str]
    owner_names: Mapping[str, str]
    fields: Sequence[LeadField]


class Leads:
    """The CRM side of leads: list, read, edit, move, import, resolve duplicates."""

    def __init__(
        self,
        uow: UnitOfWork,
        intake: LeadIntake,
        cipher: PersonalDataCipher,
        directory: CompanyDirectory,
        clock: Any = _now,
    ) -> None:
        self._uow = uow
        self._intake = intake
        self._cipher = cipher
        self._directory = directory
        self._clock = clock

    def _reveal(self, lead: Lead, stored: Sequence[StoredContact]) -> Lead:
        contacts = tuple(
            LeadContact(
                kind=contact.kind,
                value=self._cipher.decrypt(contact.value_encrypted),
                valid=contact.valid,
                source=contact.source,
                phone_type=contact.phone_type,
                whatsapp=contact.whatsapp,
                problem=contact.problem,
            )
            for contact in stored
        )
        return attrs.evolve(lead, contacts=contacts)

    async def _with_contacts(self, leads: LeadRepository, items: Sequence[Lead]) -> list[Lead]:
        stored = await leads.contacts([lead.id for lead in items])
        return [self._reveal(lead, stored.get(lead.id, [])) for lead in items]

    async def list(
        self, actor: Actor, tenant_id: str, where: LeadFilter, page: PageRequest
    ) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            leads = scope.leads
            where = await _in_tenant_zone(scope, tenant_id, where)
            if (
                where.stage_id is not None
                and await scope.pipelines.stage_pipeline(where.stage_id) is None
            ):
                raise RuleViolation(
                    "A etapa informada em stage_id não existe.",
                    field="stage_id",
                    code="unknown_stage",
                )
            result = await leads.list(where, page)
            items = await self._with_contacts(leads, _leads_of(result))
            if items:
                await _record_view(scope, actor, tenant_id, "lead.listed", items)
        return attrs.evolve(result, items=tuple(items))

    async def get(self, actor: Actor, tenant_id: str, lead_id: str) -> Lead:
        async with self._uow.tenant(tenant_id) as scope:
            leads = scope.leads
            lead = (await self._with_contacts(leads, [await _existing(leads, lead_id)]))[0]
            await _record_view(scope, actor, tenant_id, "lead.viewed", [lead])
            return lead

    async def start_export(self, actor: Actor, tenant_id: str, where: LeadFilter) -> ExportLabels:
        """Record who exported what, then return the names the export shows.

        The audit event commits before the first row goes out, so an export
        cut short by the client is still on record.
        """
        async with self._uow.tenant(tenant_id) as scope:
            await scope.audit.record(
                AuditEvent(
                    action="lead.exported",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="lead",
                    detail={"filter": _filter_detail(where)},
                )
            )
            tenant = await scope.tenants.get(tenant_id)
            return ExportLabels(
                timezone=tenant.settings.timezone if tenant else DEFAULT_TIMEZONE,
                stage_names=await scope.leads.stage_names(),
                owner_names=await scope.leads.owner_names(),
                fields=await scope.lead_fields.lead_fields(),
            )

    async def export(self, tenant_id: str, where: LeadFilter) -> AsyncIterator[Lead]:
        """Stream every matching lead with its contacts, in batches of one page."""
        async with self._uow.tenant(tenant_id) as scope:
            leads = scope.leads
            where = await _in_tenant_zone(scope, tenant_id, where)
            batch: list[Lead] = []
            async for lead in leads.export(where):
                batch.append(lead)
                if len(batch) == 500:
                    for item in await self._with_contacts(leads, batch):
                        yield item
                    batch = []
            for item in await self._with_contacts(leads, batch):
                yield item

    async def update(
        self, actor: Actor, tenant_id: str, lead_id: str, changes: LeadChanges
    ) -> Lead:
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            leads = scope.leads
            lead = await _existing(leads, lead_id, for_update=True)
            changed: dict[str, Any] = {}

            if changes.owner_id is not UNSET:
                owner = changes.owner_id
                if owner is not None and not await leads.account_in_tenant(str(owner)):
                    raise RuleViolation(
                        "O responsável informado não é um usuário ativo desta empresa.",
                        field="owner_id",
                        code="unknown_owner",
                    )
                changed["owner_id"] = owner
            if changes.notes is not UNSET:
                changed["notes"] = check_notes(str(changes.notes))
            if changes.tags is not UNSET:
                changed["tags"] = normalise_tags(list(changes.tags))
            if changes.custom_fields is not UNSET:
                schema = await scope.lead_fields.lead_fields()
                changed["custom_fields"] = merge_custom_fields(
                    schema, lead.custom_fields, changes.custom_fields
                )

            changed = {key: value for key, value in changed.items() if getattr(lead, key) != value}
            if changed:
                lead = attrs.evolve(lead, updated_at=now, **changed)
                await leads.save(lead, search_text(lead))
                await leads.add_event(
                    lead.id, LeadEventKind.UPDATED, actor, now, data={"fields": sorted(changed)}
                )
            return (await self._with_contacts(leads, [lead]))[0]

    async def move(
        self, actor: Actor, tenant_id: str, lead_id: str, stage_id: str, reason: str | None
    ) -> Lead:
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            leads = scope.leads
            lead = await _existing(leads, lead_id, for_update=True)
            if lead.review_status is ReviewStatus.POSSIBLE_DUPLICATE:
                raise RuleViolation(
                    "Este lead aguarda revisão de possível duplicidade. Resolva-a antes de "
                    "movê-lo no funil.",
                    field="stage_id",
                    code="duplicate_review_pending",
                )
            pipeline = await scope.pipelines.stage_pipeline(stage_id)
            stage = pipeline.stage(stage_id) if pipeline else None
            if pipeline is None or stage is None:
                raise RuleViolation(
                    "A etapa informada não existe.", field="stage_id", code="unknown_stage"
                )
            kept_reason = closing_reason(stage, reason)
            if stage.id == lead.stage_id:
                if stage.kind.closes and kept_reason != lead.close_reason:
                    # Same stage, new reason: the reason is corrected, not dropped.
                    lead = attrs.evolve(lead, close_reason=kept_reason, updated_at=now)
                    await leads.save(lead, search_text(lead))
                    await leads.add_event(
                        lead.id, LeadEventKind.UPDATED, actor, now, reason=kept_reason,
                        data={"fields": ["close_reason"]},
                    )  # fmt: skip
                return (await self._with_contacts(leads, [lead]))[0]

            previous = lead.stage_id
            moved = attrs.evolve(
                lead,
                pipeline_id=pipeline.id,
                stage_id=stage.id,
                stage_entered_at=now,
                updated_at=now,
                close_reason=kept_reason if stage.kind.closes else None,
            )
            await leads.save(moved, search_text(moved))
            await leads.add_event(
                lead.id, LeadEventKind.STAGE_CHANGED, actor, now,
                from_stage_id=previous, to_stage_id=stage.id, reason=kept_reason,
            )  # fmt: skip
            payload = {
                **lead_payload(moved, stage.name),
                "from_stage_id": previous,
                "to_stage_id": stage.id,
                "stage_kind": str(stage.kind),
                "reason": kept_reason,
                "moved_by": _actor_data(actor),
            }
            await publish(scope, tenant_id, "lead.stage_changed", payload, now)
            return (await self._with_contacts(leads, [moved]))[0]

    async def resolve_duplicate(
        self, actor: Actor, tenant_id: str, lead_id: str, resolution: DuplicateResolution
    ) -> Lead:
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            leads = scope.leads
            lead = await _existing(leads, lead_id, for_update=True)
            if lead.review_status is not ReviewStatus.POSSIBLE_DUPLICATE:
                raise RuleViolation(
                    "Este lead não está marcado como possível duplicado.",
                    field="resolution",
                    code="not_a_possible_duplicate",
                )
            if resolution is DuplicateResolution.DISTINCT:
                resolved = attrs.evolve(lead, review_status=None, updated_at=now)
            else:
                survivor = await self._merge_target(leads, lead)
                resolved = attrs.evolve(
                    lead, review_status=None, merged_into=survivor.id, updated_at=now
                )
                # The earlier lead keeps what the duplicate brought: its tags
                # and its contacts, so merging loses nothing.
                grown = attrs.evolve(
                    survivor,
                    tags=normalise_tags([*survivor.tags, *lead.tags]),
                    updated_at=now,
                )
                await leads.save(grown, search_text(grown))
                await leads.absorb_contacts(survivor.id, lead.id)
                await leads.add_event(
                    survivor.id, LeadEventKind.DUPLICATE_MERGED, actor, now,
                    data={"merged_lead": lead.id, "cnpj": lead.cnpj},
                )  # fmt: skip
            await leads.save(resolved, search_text(resolved))
            await leads.add_event(
                lead.id, LeadEventKind.DUPLICATE_RESOLVED, actor, now,
                data={"resolution": str(resolution), "duplicate_of": lead.duplicate_of},
            )  # fmt: skip
            await scope.audit.record(
                AuditEvent(
                    action="lead.duplicate_resolved",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="lead",
                    target_id=lead.id,
                    detail={"resolution": str(resolution), "duplicate_of": lead.duplicate_of},
                )
            )
            return (await self._with_contacts(leads, [resolved]))[0]

    async def _merge_target(self, leads: LeadRepository, lead: Lead) -> Lead:
        """Return the lead a duplicate joins: its ``duplicate_of``, or the lead that one was merged into."""
        target_id = lead.duplicate_of
        for _ in range(10):
            target = await leads.get(target_id or "", for_update=True)
            if target is None:
                break
            if target.merged_into is None:
                return target
            target_id = target.merged_into
        raise RuleViolation(
            "O lead original deste possível duplicado não existe mais; resolva como 'distinct'.",
            field="resolution",
            code="duplicate_target_missing",
        )

    async def import_leads(
        self,
        actor: Actor,
        tenant_id: str,
        rows: Sequence[ImportRow],
        *,
        owner_id: str | None = None,
        tags: Sequence[str] = (),
    ) -> Sequence[ImportOutcome]:
        """Admit each row as a manual lead, free of charge; registry data fills what a row lacks."""
        if not rows:
            raise RuleViolation(
                "Informe ao menos uma linha em 'leads'.", field="leads", code="empty_import"
            )
        if len(rows) > MAX_IMPORT_ROWS:
            raise RuleViolation(
                f"Uma importação aceita até {MAX_IMPORT_ROWS} linhas; foram enviadas {len(rows)}.",
                field="leads",
                code="import_too_large",
            )
        cnpjs = _valid_cnpjs(rows)
        extra_tags = normalise_tags(tags)
        facts = await self._directory.contacts(list(dict.fromkeys(cnpjs)))

        outcomes = []
        async with self._uow.tenant(tenant_id) as scope:
            leads = scope.leads
            if owner_id is not None and not await leads.account_in_tenant(owner_id):
                raise RuleViolation(
                    "O responsável informado não é um usuário ativo desta empresa.",
                    field="owner_id",
                    code="unknown_owner",
                )
            pipeline = await scope.pipelines.default()
            for position, (row, cnpj) in enumerate(zip(rows, cnpjs, strict=True), start=1):
                known = facts.get(cnpj)
                draft = LeadDraft(
                    cnpj=cnpj,
                    origin=LeadOrigin.MANUAL,
                    company_name=row.company_name or (known.legal_name if known else None),
                    trade_name=known.trade_name if known else None,
                    cnae=known.cnae_primary if known else None,
                    uf=known.uf if known else None,
                    municipality_ibge=known.ibge_code if known else None,
                    # The row's own contacts come first; the registry's are kept beside them.
                    phones=row.phones,
                    emails=row.emails,
                    contact_source="manual",
                    extra_contacts=_registry_contacts(known),
                    owner_id=owner_id,
                    tags=(*row.tags, *extra_tags),
                )
                admission = await self._intake.admit(scope, leads, draft, actor, pipeline=pipeline)
                lead = admission.lead
                if lead.merged_into is not None:
                    lead = await _existing(leads, lead.merged_into)
                if not admission.created:
                    result = "already_lead"
                elif lead.review_status is ReviewStatus.POSSIBLE_DUPLICATE:
                    result = "possible_duplicate"
                else:
                    result = "created"
                outcomes.append(
                    ImportOutcome(
                        position,
                        cnpj,
                        result,
                        lead.id,
                        lead.duplicate_of if result == "possible_duplicate" else None,
                        invalid_contacts=sum(1 for c in admission.contacts if not c.valid),
                    )
                )
            await scope.audit.record(
                AuditEvent(
                    action="lead.imported",
                    actor=actor,
                    tenant_id=tenant_id,
                    detail={
                        "rows": len(rows),
                        "created": sum(1 for o in outcomes if o.result == "created"),
                        "possible_duplicate": sum(
                            1 for o in outcomes if o.result == "possible_duplicate"
                        ),
                        "already_lead": sum(1 for o in outcomes if o.result == "already_lead"),
                    },
                )
            )
        return outcomes


def _registry_contacts(known: CompanyContacts | None) -> tuple[RawContact, ...]:
    if known is None:
        return ()
    phones = (RawContact("phone", phone, known.source) for phone in known.phones)
    emails = [RawContact("email", known.email, known.source)] if known.email else []
    return (*phones, *emails)


def _valid_cnpjs(rows: Sequence[ImportRow]) -> list[str]:
    cnpjs = []
    invalid = []
    for position, row in enumerate(rows, start=1):
        try:
            cnpjs.append(Cnpj.parse(row.cnpj).value)
        except InvalidCnpj:
            invalid.append(f"linha {position}: '{row.cnpj}'")
    if invalid:
        raise RuleViolation(
            f"{len(invalid)} CNPJ(s) inválido(s): {'; '.join(invalid[:10])}. Nenhuma linha foi "
            "importada; corrija-os e envie de novo.",
            field="leads",
            code="invalid_cnpjs",
        )
    return cnpjs


async def _in_tenant_zone(scope: Scope, tenant_id: str, where: LeadFilter) -> LeadFilter:
    """Return the filter with its days read in the tenant's timezone, as its users count days."""
    tenant = await scope.tenants.get(tenant_id)
    return attrs.evolve(where, timezone=tenant.settings.timezone if tenant else DEFAULT_TIMEZONE)


def _leads_of(page: Page) -> list[Lead]:
    return [item for item in page.items if isinstance(item, Lead)]


def _filter_detail(where: LeadFilter) -> dict[str, Any]:
    return {
        key: str(value)
        for key, value in attrs.asdict(where, recurse=False).items()
        if value not in (None, False)
    }


async def _record_view(
    scope: Scope, actor: Actor, tenant_id: str, action: str, leads: Sequence[Lead]
) -> None:
    """LGPD: who saw the contacts of which CNPJs, and when."""
    await scope.audit.record(
        AuditEvent(
            action=action,
            actor=actor,
            tenant_id=tenant_id,
            target_type="lead",
            target_id=leads[0].id if len(leads) == 1 else None,
            detail={"cnpjs": [lead.cnpj for lead in leads]},
        )
    )


async def _existing(leads: LeadRepository, lead_id: str, *, for_update: bool = False) -> Lead:
    lead = await leads.get(lead_id, for_update=for_update)
    if lead is None or lead.merged_into is not None:
        raise NotFound(f"Lead não encontrado: '{lead_id}'.")
    return lead
