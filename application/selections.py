"""Selections of pre-leads: made from a CNPJ list or a frozen search, free of charge.

Making a selection registers each CNPJ as a pre-lead of the tenant (one per
establishment CNPJ, shared by every selection that names it) and records,
per item, what qualification should know: already a lead, opted out, no
contact channel, unknown to the registry, or being qualified elsewhere.
Nothing is dropped: a flagged pre-lead stays in the selection with its flags.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from application.company_directory import CompanyContacts, CompanyDirectory
from application.personal_data import PersonalDataCipher
from application.ports import UnitOfWork
from application.search import SearchSource
from domain.audit import Actor, AuditEvent
from domain.errors import Conflict, NotFound, RuleViolation
from domain.search import Page, PageRequest, SearchCriteria
from domain.selections import (
    NewItem,
    PreleadStatus,
    Selection,
    SelectionFlag,
    SelectionItem,
    SelectionOrigin,
    SelectionTooLarge,
    check_size,
    item_flags,
    parse_cnpj_list,
    selection_name,
)
from domain.tenancy import DEFAULT_TIMEZONE


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SelectionRepository(Protocol):
    async def max_selection_size(self) -> int:
        """Return the limit of the tenant's plan, or the default without a plan."""
        ...

    async def add(
        self,
        *,
        name: str,
        origin: SelectionOrigin,
        criteria: Mapping[str, Any] | None,
        items: Sequence[NewItem],
        actor: Actor,
        at: dt.datetime,
    ) -> str:
        """Register the pre-leads, store the selection with its items in order, return its id."""
        ...

    async def qualifying(self, cnpjs: Sequence[str]) -> set[str]:
        """Return the CNPJs whose pre-lead is being qualified now."""
        ...

    async def get(self, selection_id: str, *, for_update: bool = False) -> Selection | None: ...

    async def list(self, page: PageRequest) -> Page: ...

    async def items(self, selection_id: str, page: PageRequest, flag: SelectionFlag | None) -> Page:
        """Items of the selection in order, with each pre-lead's status and lead id."""
        ...

    async def rename(self, selection_id: str, name: str, at: dt.datetime) -> None: ...

    async def delete(self, selection_id: str) -> None: ...


class OptOutRepository(Protocol):
    async def matching(self, hashes: Sequence[tuple[str, bytes]]) -> set[tuple[str, bytes]]:
        """Return the (kind, hash) pairs on the tenant's list or the global one."""
        ...


class PreleadSearch(Protocol):
    async def __call__(
        self,
        criteria: SearchCriteria,
        page: PageRequest,
        tenant_id: str | None = None,
        source: SearchSource = SearchSource.AUTO,
    ) -> Page: ...


@attrs.frozen
class SelectionItemView:
    """One item with the registry's facts beside its state, for the selection's page."""

    prelead_id: str
    cnpj: str
    position: int
    status: PreleadStatus
    flags: tuple[SelectionFlag, ...]
    lead_id: str | None
    company: CompanyContacts | None


class Selections:
    def __init__(
        self,
        uow: UnitOfWork,
        directory: CompanyDirectory,
        cipher: PersonalDataCipher,
        search: PreleadSearch,
        *,
        search_page_size: int = 200,
        clock: Any = _now,
    ) -> None:
        self._uow = uow
        self._directory = directory
        self._cipher = cipher
        self._search = search
        self._search_page_size = search_page_size
        self._clock = clock

    async def _max_size(self, tenant_id: str) -> int:
        async with self._uow.tenant(tenant_id) as scope:
            return await scope.selections.max_selection_size()

    async def create_from_cnpjs(
        self, actor: Actor, tenant_id: str, name: str | None, cnpjs: Sequence[str]
    ) -> Selection:
        max_size = await self._max_size(tenant_id)
        unique = parse_cnpj_list(cnpjs, max_size=max_size)
        return await self._create(actor, tenant_id, name, SelectionOrigin.CNPJS, None, unique)

    async def create_from_search(
        self,
        actor: Actor,
        tenant_id: str,
        name: str | None,
        criteria: SearchCriteria,
        criteria_json: Mapping[str, Any],
        limit: int | None,
        *,
        source: SearchSource = SearchSource.AUTO,
    ) -> Selection:
        """Freeze the search's results now, in the search's order, up to ``limit``."""
        max_size = await self._max_size(tenant_id)
        if limit is not None:
            if limit < 1:
                raise RuleViolation(
                    "O campo 'limit' deve ser 1 ou mais.", field="limit", code="invalid_limit"
                )
            check_size(limit, max_size=max_size, from_search=True)

        wanted = limit or max_size
        cnpjs: dict[str, None] = {}
        page_number = 1
        while len(cnpjs) < wanted:
            page = await self._search(
                criteria,
                PageRequest.create(
                    page=page_number, per_page=self._search_page_size,
                    max_per_page=self._search_page_size,
                ),
                tenant_id,
                source,
            )  # fmt: skip
            # NOTE: a search that fell back to local results because api-cnaes
            # failed carries warnings in its page; the selection does not keep them.
            if page_number == 1 and limit is None and page.total_items > max_size:
                raise SelectionTooLarge(page.total_items, max_size, from_search=True)
            for item in page.items:
                cnpjs.setdefault(_cnpj_of(item), None)
            if page_number >= page.total_pages:
                break
            page_number += 1

        if not cnpjs:
            raise RuleViolation(
                "A busca não encontrou empresas: não há o que selecionar. Amplie os critérios.",
                field="search",
                code="empty_selection",
            )
        chosen = list(cnpjs)[:wanted]
        return await self._create(
            actor, tenant_id, name, SelectionOrigin.SEARCH, dict(criteria_json), chosen
        )

    async def _create(
        self,
        actor: Actor,
        tenant_id: str,
        name: str | None,
        origin: SelectionOrigin,
        criteria: Mapping[str, Any] | None,
        cnpjs: Sequence[str],
    ) -> Selection:
        now = self._clock()
        # Checked before any lookup; an empty result means the default name.
        given_name = selection_name(name, default="")
        facts = await self._directory.contacts(cnpjs)

        # Hash every phone, e-mail and the CNPJ itself once, to check the
        # opt-out lists in one query.
        hashes_of: dict[str, list[tuple[str, bytes]]] = {}
        for cnpj in cnpjs:
            known = facts.get(cnpj)
            pairs = [("cnpj", self._cipher.lookup_hash("cnpj", cnpj))]
            if known is not None:
                pairs += [("phone", self._cipher.lookup_hash("phone", p)) for p in known.phones]
                if known.email:
                    pairs.append(("email", self._cipher.lookup_hash("email", known.email.lower())))
            hashes_of[cnpj] = pairs

        async with self._uow.tenant(tenant_id) as scope:
            tenant = await scope.tenants.get(tenant_id)
            timezone = tenant.settings.timezone if tenant else DEFAULT_TIMEZONE
            chosen_name = given_name or default_name(now, timezone)
            every_hash = [pair for pairs in hashes_of.values() for pair in pairs]
            opted = await scope.opt_outs.matching(every_hash)
            leads = await scope.leads.leads_by_cnpj(cnpjs)
            qualifying = await scope.selections.qualifying(cnpjs)

            items = []
            for cnpj in cnpjs:
                known = facts.get(cnpj)
                flags = item_flags(
                    known=known is not None,
                    has_contact=bool(known and (known.phones or known.email)),
                    already_lead=cnpj in leads,
                    opted_out=any(pair in opted for pair in hashes_of[cnpj]),
                    qualifying=cnpj in qualifying,
                )
                source = known.source if known is not None else "registry"
                items.append(NewItem(cnpj=cnpj, source=source, flags=flags))

            selection_id = await scope.selections.add(
                name=chosen_name, origin=origin, criteria=criteria, items=items, actor=actor, at=now
            )
            await scope.audit.record(
                AuditEvent(
                    action="selection.created",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="selection",
                    target_id=selection_id,
                    detail={"origin": str(origin), "items": len(items)},
                )
            )
            selection = await scope.selections.get(selection_id)
        assert selection is not None
        return selection

    async def list(self, tenant_id: str, page: PageRequest) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            return await scope.selections.list(page)

    async def get(self, tenant_id: str, selection_id: str) -> Selection:
        async with self._uow.tenant(tenant_id) as scope:
            return await _existing(scope.selections, selection_id)

    async def items(
        self,
        tenant_id: str,
        selection_id: str,
        page: PageRequest,
        flag: SelectionFlag | None = None,
    ) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            await _existing(scope.selections, selection_id)
            result = await scope.selections.items(selection_id, page, flag)
        found = [item for item in result.items if isinstance(item, SelectionItem)]
        facts = await self._directory.contacts([item.cnpj for item in found])
        views = tuple(
            SelectionItemView(
                prelead_id=item.prelead_id,
                cnpj=item.cnpj,
                position=item.position,
                status=item.status,
                flags=item.flags,
                lead_id=item.lead_id,
                company=facts.get(item.cnpj),
            )
            for item in found
        )
        return attrs.evolve(result, items=views)

    async def rename(
        self, actor: Actor, tenant_id: str, selection_id: str, name: str | None
    ) -> Selection:
        now = self._clock()
        async with self._uow.tenant(tenant_id) as scope:
            selection = await _existing(scope.selections, selection_id, for_update=True)
            if name is None or not name.strip():
                raise RuleViolation(
                    "Informe o novo nome da seleção.", field="name", code="invalid_selection_name"
                )
            new_name = selection_name(name, default=selection.name)
            await scope.selections.rename(selection_id, new_name, now)
            await scope.audit.record(
                AuditEvent(
                    action="selection.renamed",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="selection",
                    target_id=selection_id,
                    before={"name": selection.name},
                    after={"name": new_name},
                )
            )
            renamed = await scope.selections.get(selection_id)
        assert renamed is not None
        return renamed

    async def delete(self, actor: Actor, tenant_id: str, selection_id: str) -> None:
        """Remove the selection; its pre-leads, leads and credits stay as they are."""
        async with self._uow.tenant(tenant_id) as scope:
            selection = await _existing(scope.selections, selection_id, for_update=True)
            if selection.status_counts.get(PreleadStatus.QUALIFYING, 0):
                raise Conflict(
                    "Esta seleção tem pré-leads em qualificação. Cancele a qualificação antes "
                    "de excluí-la.",
                    code="selection_in_qualification",
                )
            await scope.selections.delete(selection_id)
            await scope.audit.record(
                AuditEvent(
                    action="selection.deleted",
                    actor=actor,
                    tenant_id=tenant_id,
                    target_type="selection",
                    target_id=selection_id,
                    before={"name": selection.name, "items": selection.item_count},
                )
            )


def default_name(now: dt.datetime, timezone: str) -> str:
    """Name a selection after its creation time in the tenant's timezone."""
    local = now.astimezone(zoneinfo.ZoneInfo(timezone))
    return f"Seleção de {local.strftime('%d/%m/%Y %H:%M')}"


def _cnpj_of(item: object) -> str:
    if isinstance(item, Mapping):
        return str(item["cnpj"])
    return str(getattr(item, "cnpj"))  # noqa: B009


async def _existing(
    selections: SelectionRepository, selection_id: str, *, for_update: bool = False
) -> Selection:
    selection = await selections.get(selection_id, for_update=for_update)
    if selection is None:
        raise NotFound(f"Seleção não encontrada: '{selection_id}'.")
    return selection
