"""Leads and the CRM pipeline: stages, moves, tags, custom fields, duplicates.

A lead is a company the tenant works on. Qualification creates it in the
pipeline's qualified stage; a manual import creates it in the first open
stage and costs nothing. Closing a lead (won or lost) needs a reason, so the
tenant's reports can show why deals close.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from domain.errors import RuleViolation

MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_NOTES_LENGTH = 20000
MAX_REASON_LENGTH = 500
MAX_CUSTOM_FIELDS = 50
MAX_TEXT_FIELD_LENGTH = 2000
MAX_CHOICES = 100


class StageKind(enum.StrEnum):
    OPEN = "open"
    #: Where qualification puts the leads it creates.
    QUALIFIED = "qualified"
    WON = "won"
    LOST = "lost"

    @property
    def closes(self) -> bool:
        return self in (StageKind.WON, StageKind.LOST)


class LeadOrigin(enum.StrEnum):
    QUALIFICATION = "qualification"
    MANUAL = "manual"


class Classification(enum.StrEnum):
    QUALIFIED = "qualified"
    NOT_INTERESTED = "not_interested"
    INVALID = "invalid"
    OPT_OUT = "opt_out"
    NO_ANSWER = "no_answer"


class ReviewStatus(enum.StrEnum):
    #: Shares a normalised phone or e-mail with an earlier lead of another CNPJ.
    POSSIBLE_DUPLICATE = "possible_duplicate"


class DuplicateResolution(enum.StrEnum):
    #: Another company after all: the lead stays and joins the pipeline lists.
    DISTINCT = "distinct"
    #: The same company: the lead is merged into the earlier one and leaves the lists.
    DUPLICATE = "duplicate"


class LeadEventKind(enum.StrEnum):
    CREATED = "created"
    STAGE_CHANGED = "stage_changed"
    UPDATED = "updated"
    DUPLICATE_FLAGGED = "duplicate_flagged"
    DUPLICATE_RESOLVED = "duplicate_resolved"
    #: On the surviving lead: a duplicate was merged into it.
    DUPLICATE_MERGED = "duplicate_merged"


@attrs.frozen
class Stage:
    id: str
    name: str
    position: int
    kind: StageKind


@attrs.frozen
class Pipeline:
    id: str
    name: str
    is_default: bool
    stages: tuple[Stage, ...]

    def stage(self, stage_id: str) -> Stage | None:
        return next((stage for stage in self.stages if stage.id == stage_id), None)

    def entry_stage(self, origin: LeadOrigin) -> Stage:
        """Qualification enters at the qualified stage; a manual lead at the first open one."""
        wanted = StageKind.QUALIFIED if origin is LeadOrigin.QUALIFICATION else StageKind.OPEN
        for stage in sorted(self.stages, key=lambda stage: stage.position):
            if stage.kind is wanted:
                return stage
        return min(self.stages, key=lambda stage: stage.position)


@attrs.frozen
class LeadContact:
    kind: str
    value: str
    valid: bool
    source: str
    phone_type: str | None = None
    whatsapp: str = "unknown"
    problem: str | None = None


@attrs.frozen(kw_only=True)
class Lead:
    id: str
    cnpj: str
    origin: LeadOrigin
    pipeline_id: str
    stage_id: str
    stage_entered_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    prelead_id: str | None = None
    owner_id: str | None = None
    classification: Classification | None = None
    classification_rule: str | None = None
    company_name: str | None = None
    trade_name: str | None = None
    cnae: str | None = None
    uf: str | None = None
    municipality_ibge: str | None = None
    notes: str = ""
    tags: tuple[str, ...] = ()
    custom_fields: Mapping[str, Any] = attrs.field(factory=dict)
    close_reason: str | None = None
    review_status: ReviewStatus | None = None
    duplicate_of: str | None = None
    merged_into: str | None = None
    contacts: tuple[LeadContact, ...] = ()


@attrs.frozen
class LeadEvent:
    id: str
    #: A LeadEventKind, or the stored text of a kind this version does not know.
    kind: LeadEventKind | str
    occurred_at: dt.datetime
    actor_type: str
    actor_label: str | None
    from_stage_id: str | None = None
    to_stage_id: str | None = None
    reason: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class LeadFilter:
    """The narrowing of a lead list. Every field left as None matches all leads."""

    stage_id: str | None = None
    pipeline_id: str | None = None
    owner_id: str | None = None
    classification: Classification | None = None
    origin: LeadOrigin | None = None
    cnae: str | None = None
    uf: str | None = None
    municipality_ibge: str | None = None
    tag: str | None = None
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    #: Matches the company name, trade name or CNPJ, ignoring case and accents.
    text: str | None = None
    review_status: ReviewStatus | None = None
    #: Merged leads stay for the record but leave the lists unless asked for.
    include_merged: bool = False
    #: Timezone of the days in ``created_from`` and ``created_to``: the tenant's.
    timezone: str = "UTC"


def fold(text: str) -> str:
    """Lower-case ``text`` without accents, for searches that ignore both."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def search_text(lead: Lead) -> str:
    """Return the text a lead's text filter matches: names, CNPJ and tags, folded."""
    parts = [lead.cnpj, lead.company_name or "", lead.trade_name or "", *lead.tags]
    return fold(" ".join(parts))


def closing_reason(stage: Stage, reason: str | None) -> str | None:
    """Return the reason a move into ``stage`` keeps. Won and lost stages reject a move without one."""
    text = " ".join((reason or "").split())
    if len(text) > MAX_REASON_LENGTH:
        raise RuleViolation(
            f"O motivo tem {len(text)} caracteres; o máximo é {MAX_REASON_LENGTH}.",
            field="reason",
            code="reason_too_long",
        )
    if stage.kind.closes and not text:
        outcome = "ganho" if stage.kind is StageKind.WON else "perdido"
        raise RuleViolation(
            f"Informe o motivo para marcar o lead como {outcome} (etapa '{stage.name}').",
            field="reason",
            code="reason_required",
        )
    return text or None


def normalise_tags(values: Sequence[str]) -> tuple[str, ...]:
    """Trim each tag, drop repeats ignoring case (the first spelling wins), check limits."""
    tags: dict[str, str] = {}
    for value in values:
        tag = " ".join(value.split())
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise RuleViolation(
                f"A etiqueta '{tag[:50]}' passa de {MAX_TAG_LENGTH} caracteres.",
                field="tags",
                code="invalid_tag",
            )
        tags.setdefault(tag.casefold(), tag)
    if len(tags) > MAX_TAGS:
        raise RuleViolation(
            f"Um lead aceita até {MAX_TAGS} etiquetas; foram informadas {len(tags)}.",
            field="tags",
            code="too_many_tags",
        )
    return tuple(tags.values())


def check_notes(text: str) -> str:
    if len(text) > MAX_NOTES_LENGTH:
        raise RuleViolation(
            f"As observações têm {len(text)} caracteres; o máximo é {MAX_NOTES_LENGTH}.",
            field="notes",
            code="notes_too_long",
        )
    return text


# --- custom fields ------------------------------------------------------------


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"


_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


@attrs.frozen
class LeadField:
    """One custom field of the tenant's leads: its key, label and type."""

    key: str
    label: str
    type: FieldType
    choices: tuple[str, ...] = ()
    required: bool = False
    position: int = 0


def lead_field(
    key: str,
    label: str,
    type_: str,
    *,
    choices: Sequence[str] = (),
    required: bool = False,
    position: int = 0,
) -> LeadField:
    """Validate a field definition and build it."""
    if not _FIELD_KEY.fullmatch(key):
        raise RuleViolation(
            f"Chave de campo inválida '{key}': use letras minúsculas sem acento, dígitos e '_', "
            "começando por letra, até 40 caracteres (por exemplo, 'numero_funcionarios').",
            field="key",
            code="invalid_field_key",
        )
    label = " ".join(label.split())
    if not 1 <= len(label) <= 80:
        raise RuleViolation(
            "O rótulo do campo deve ter de 1 a 80 caracteres.", field="label", code="invalid_label"
        )
    try:
        field_type = FieldType(type_)
    except ValueError:
        raise RuleViolation(
            f"Tipo de campo inválido '{type_}': use text, number, date, boolean ou choice.",
            field="type",
            code="invalid_field_type",
        ) from None

    cleaned = tuple(dict.fromkeys(" ".join(choice.split()) for choice in choices if choice.strip()))
    if field_type is FieldType.CHOICE and not cleaned:
        raise RuleViolation(
            "Um campo do tipo choice precisa de ao menos uma opção em 'choices'.",
            field="choices",
            code="choices_required",
        )
    if field_type is not FieldType.CHOICE and cleaned:
        raise RuleViolation(
            "Só campos do tipo choice aceitam 'choices'.",
            field="choices",
            code="unexpected_choices",
        )
    if len(cleaned) > MAX_CHOICES:
        raise RuleViolation(
            f"Um campo aceita até {MAX_CHOICES} opções.", field="choices", code="too_many_choices"
        )
    return LeadField(key, label, field_type, cleaned, required, position)


def merge_custom_fields(
    schema: Sequence[LeadField], current: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply ``changes`` (null removes a value) and validate the result against ``schema``.

    Values are checked against their field's type; a required field may not
    end up empty. Values of fields removed from the schema since they were
    stored are kept untouched, so deleting a definition loses no data.
    """
    fields = {field.key: field for field in schema}
    merged = dict(current)
    for key, value in changes.items():
        field = fields.get(key)
        if field is None:
            known = ", ".join(sorted(fields)) or "nenhum campo definido"
            raise RuleViolation(
                f"O campo personalizado '{key}' não existe. Campos definidos: {known}.",
                field=f"custom_fields.{key}",
                code="unknown_custom_field",
            )
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _field_value(field, value)

    missing = [field.label for field in schema if field.required and merged.get(field.key) is None]
    if missing:
        raise RuleViolation(
            f"Campos obrigatórios sem valor: {', '.join(missing)}.",
            field="custom_fields",
            code="required_custom_field",
        )
    if len(merged) > MAX_CUSTOM_FIELDS:
        raise RuleViolation(
            f"Um lead aceita até {MAX_CUSTOM_FIELDS} campos personalizados.",
            field="custom_fields",
            code="too_many_custom_fields",
        )
    return merged


def _field_value(field: LeadField, value: Any) -> Any:
    where = f"custom_fields.{field.key}"
    if field.type is FieldType.TEXT:
        if isinstance(value, str) and len(value) <= MAX_TEXT_FIELD_LENGTH:
            return value
        raise _wrong_value(field, f"um texto de até {MAX_TEXT_FIELD_LENGTH} caracteres", where)
    if field.type is FieldType.NUMBER:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return value
        raise _wrong_value(field, "um número", where)
    if field.type is FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        raise _wrong_value(field, "true ou false", where)
    if field.type is FieldType.DATE:
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        raise _wrong_value(field, "uma data AAAA-MM-DD", where)
    if isinstance(value, str) and value in field.choices:
        return value
    raise _wrong_value(field, f"uma das opções: {', '.join(field.choices)}", where)


def _wrong_value(field: LeadField, expected: str, where: str) -> RuleViolation:
    return RuleViolation(
        f"O campo '{field.label}' deve ser {expected}.", field=where, code="invalid_custom_field"
    )
