"""Selections: a named batch of pre-leads a sales rep picks for qualification.

Selecting costs nothing. A selection freezes its pre-leads when it is made,
from a CNPJ list or from a search, and flags the ones qualification would
skip or waste a credit on, so the rep sees them instead of losing them.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from domain.cnpj import Cnpj
from domain.errors import InvalidCnpj, RuleViolation

#: Plans without their own limit select at most this many pre-leads at once.
DEFAULT_MAX_SELECTION_SIZE = 5000
MAX_NAME_LENGTH = 200
#: Invalid CNPJs named in one refusal; the rest are counted.
MAX_INVALID_LISTED = 10


class SelectionOrigin(enum.StrEnum):
    CNPJS = "cnpjs"
    SEARCH = "search"


class SelectionFlag(enum.StrEnum):
    """A reason a pre-lead of a selection deserves a look before qualification."""

    #: The tenant already has a lead for this CNPJ.
    ALREADY_LEAD = "already_lead"
    #: A phone, e-mail or the CNPJ itself is on the tenant's or the global opt-out list.
    OPTED_OUT = "opted_out"
    #: No phone and no e-mail: no channel could reach it.
    NO_CONTACT = "no_contact"
    #: The CNPJ is found neither in the registry nor in api-cnaes.
    NOT_IN_REGISTRY = "not_in_registry"
    #: Another selection is qualifying this pre-lead right now.
    IN_QUALIFICATION = "in_qualification"


class PreleadStatus(enum.StrEnum):
    SELECTED = "selected"
    QUALIFYING = "qualifying"
    QUALIFIED = "qualified"
    NOT_INTERESTED = "not_interested"
    INVALID = "invalid"
    OPT_OUT = "opt_out"
    NO_ANSWER = "no_answer"


@attrs.frozen
class Selection:
    id: str
    name: str
    origin: SelectionOrigin
    item_count: int
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by_label: str | None = None
    #: The search criteria as the request sent them, for a selection made from a search.
    criteria: Mapping[str, Any] | None = None
    flag_counts: Mapping[str, int] = attrs.field(factory=dict)
    status_counts: Mapping[str, int] = attrs.field(factory=dict)


@attrs.frozen
class SelectionItem:
    prelead_id: str
    cnpj: str
    position: int
    status: PreleadStatus
    flags: tuple[SelectionFlag, ...]
    lead_id: str | None = None


@attrs.frozen
class NewItem:
    """A pre-lead about to enter a selection, with what was found about it."""

    cnpj: str
    source: str
    flags: tuple[SelectionFlag, ...]


def selection_name(text: str | None, *, default: str) -> str:
    name = " ".join((text or "").split()) or default
    if len(name) > MAX_NAME_LENGTH:
        raise RuleViolation(
            f"O nome da seleção tem {len(name)} caracteres; o máximo é {MAX_NAME_LENGTH}.",
            field="name",
            code="invalid_selection_name",
        )
    return name


def parse_cnpj_list(values: Iterable[str], *, max_size: int) -> list[str]:
    """Validate every CNPJ, drop repeats keeping the first, and enforce the size limit.

    Every invalid entry is reported at once, with its position, so a rep
    fixes a spreadsheet in one pass instead of one error per request.
    """
    seen: dict[str, None] = {}
    invalid: list[str] = []
    invalid_count = 0
    for position, text in enumerate(values, start=1):
        try:
            cnpj = Cnpj.parse(text)
        except InvalidCnpj:
            invalid_count += 1
            if len(invalid) < MAX_INVALID_LISTED:
                invalid.append(f"{position}: '{text}'")
            continue
        seen.setdefault(cnpj.value, None)

    if invalid_count:
        more = invalid_count - len(invalid)
        suffix = f" e mais {more}" if more else ""
        raise RuleViolation(
            f"{invalid_count} CNPJ(s) inválido(s) na lista (posição: valor): "
            f"{'; '.join(invalid)}{suffix}. Corrija-os e envie a lista de novo.",
            field="cnpjs",
            code="invalid_cnpjs",
        )
    if not seen:
        raise RuleViolation(
            "A lista de CNPJs está vazia: informe ao menos um.",
            field="cnpjs",
            code="empty_selection",
        )
    check_size(len(seen), max_size=max_size)
    return list(seen)


def check_size(count: int, *, max_size: int, from_search: bool = False) -> None:
    if count > max_size:
        raise SelectionTooLarge(count, max_size, from_search=from_search)


class SelectionTooLarge(RuleViolation):
    code = "selection_too_large"

    def __init__(self, requested: int, max_size: int, *, from_search: bool = False) -> None:
        advice = (
            "Refine a busca, ou informe 'limit' para levar só os primeiros resultados."
            if from_search
            else "Divida a lista em mais de uma seleção."
        )
        super().__init__(
            f"A seleção teria {requested} pré-leads, e o limite do seu plano é {max_size} por "
            f"seleção. {advice}",
            field="search" if from_search else "cnpjs",
        )
        self.extensions = {"requested": requested, "max_selection_size": max_size}


def item_flags(
    *,
    known: bool,
    has_contact: bool,
    already_lead: bool,
    opted_out: bool,
    qualifying: bool,
) -> tuple[SelectionFlag, ...]:
    flags = []
    if already_lead:
        flags.append(SelectionFlag.ALREADY_LEAD)
    if opted_out:
        flags.append(SelectionFlag.OPTED_OUT)
    if not known:
        flags.append(SelectionFlag.NOT_IN_REGISTRY)
    if not has_contact:
        flags.append(SelectionFlag.NO_CONTACT)
    if qualifying:
        flags.append(SelectionFlag.IN_QUALIFICATION)
    return tuple(flags)
