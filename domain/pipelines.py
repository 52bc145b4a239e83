"""Rules for the shape of a CRM pipeline: names, stage kinds, order and removal.

A pipeline needs a stage for every kind of lead. It has at least one open
stage for work in progress and at least one won and one lost stage to close
leads. It has exactly one qualified stage, because qualification puts the
leads it creates there and two would make that entry point ambiguous. Stage
names are unique in their pipeline, ignoring case, because users pick stages
by name.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.errors import RuleViolation
from domain.leads import Stage, StageKind

MAX_PIPELINE_NAME_LENGTH = 120
MAX_STAGE_NAME_LENGTH = 80
#: Stages per pipeline: a board with more columns than this cannot be worked on a screen.
MAX_STAGES = 30
#: Pipelines per tenant.
MAX_PIPELINES = 20

#: Reason stored on the ``stage_changed`` event of each lead moved out of a removed stage.
STAGE_REMOVED_REASON = "etapa removida"

_KIND_LABELS = {
    StageKind.OPEN: "aberta",
    StageKind.QUALIFIED: "qualificado",
    StageKind.WON: "ganho",
    StageKind.LOST: "perdido",
}


def pipeline_name(value: str) -> str:
    """Collapse the whitespace of a pipeline name and check its length."""
    name = " ".join(value.split())
    if not 1 <= len(name) <= MAX_PIPELINE_NAME_LENGTH:
        raise RuleViolation(
            f"O nome do funil deve ter de 1 a {MAX_PIPELINE_NAME_LENGTH} caracteres.",
            field="name",
            code="invalid_pipeline_name",
        )
    return name


def stage_name(value: str, *, field: str = "name") -> str:
    """Collapse the whitespace of a stage name and check its length."""
    name = " ".join(value.split())
    if not 1 <= len(name) <= MAX_STAGE_NAME_LENGTH:
        raise RuleViolation(
            f"O nome da etapa deve ter de 1 a {MAX_STAGE_NAME_LENGTH} caracteres.",
            field=field,
            code="invalid_stage_name",
        )
    return name


def stage_kind(value: str, *, field: str = "kind") -> StageKind:
    try:
        return StageKind(value)
    except ValueError:
        raise RuleViolation(
            f"Tipo de etapa inválido '{value}': use open, qualified, won ou lost.",
            field=field,
            code="invalid_stage_kind",
        ) from None


def check_stage_layout(stages: Sequence[tuple[str, StageKind]], *, field: str = "stages") -> None:
    """Check a pipeline's whole list of (name, kind) stages against the rules above.

    Raises RuleViolation naming the first rule broken.
    """
    if len(stages) > MAX_STAGES:
        raise RuleViolation(
            f"Um funil aceita até {MAX_STAGES} etapas; foram informadas {len(stages)}.",
            field=field,
            code="too_many_stages",
        )

    seen: dict[str, str] = {}
    for name, _kind in stages:
        folded = name.casefold()
        if folded in seen:
            raise RuleViolation(
                f"Há duas etapas chamadas '{name}' no funil; use nomes diferentes.",
                field=field,
                code="duplicate_stage_name",
            )
        seen[folded] = name

    counts = {kind: 0 for kind in StageKind}
    for _name, kind in stages:
        counts[kind] += 1
    if counts[StageKind.QUALIFIED] != 1:
        raise RuleViolation(
            "O funil deve ter exatamente uma etapa do tipo qualified, onde a qualificação "
            f"coloca os leads; há {counts[StageKind.QUALIFIED]}.",
            field=field,
            code="qualified_stage_count",
        )
    for kind in (StageKind.OPEN, StageKind.WON, StageKind.LOST):
        if counts[kind] == 0:
            raise RuleViolation(
                f"O funil deve ter ao menos uma etapa do tipo {kind.value} ({_KIND_LABELS[kind]}).",
                field=field,
                code="missing_stage_kind",
            )


def insertion_position(requested: int | None, count: int, *, field: str = "position") -> int:
    """Return the position of a new item in a list of ``count``, the end when none is requested.

    Positions run from 0 to ``count`` (the end) without gaps.
    """
    if requested is None:
        return count
    if not 0 <= requested <= count:
        raise RuleViolation(
            f"A posição deve estar entre 0 e {count}.", field=field, code="invalid_position"
        )
    return requested


def moved_position(requested: int, count: int, *, field: str = "position") -> int:
    """Check the new position of an item already in a list of ``count``."""
    if not 0 <= requested < count:
        raise RuleViolation(
            f"A posição deve estar entre 0 e {count - 1}.", field=field, code="invalid_position"
        )
    return requested


def reordered(ids: Sequence[str], item_id: str, position: int) -> list[str]:
    """Return ``ids`` with ``item_id`` moved (or inserted) at ``position``."""
    others = [other for other in ids if other != item_id]
    others.insert(position, item_id)
    return others


def check_kind_change(stage: Stage, new_kind: StageKind, lead_count: int) -> None:
    """Reject a kind change that would close or reopen the leads of a stage.

    A won or lost lead carries the reason it closed. Turning an open stage
    into a closing one would close its leads without a reason, and the
    reverse would reopen them silently.
    """
    if lead_count and new_kind is not stage.kind and (stage.kind.closes or new_kind.closes):
        raise RuleViolation(
            f"A etapa '{stage.name}' tem {lead_count} lead(s); mova-os antes de trocar o tipo "
            f"de {stage.kind.value} para {new_kind.value}.",
            field="kind",
            code="stage_has_leads",
        )


def check_move_target(removed: Stage, target: Stage) -> None:
    """Check where the leads of a removed stage may go, inside the same pipeline.

    Removing a stage never closes or reopens a lead: leads of an open or
    qualified stage go to an open or qualified stage, and leads of a won or
    lost stage go to a stage of the same kind.
    """
    if target.id == removed.id:
        raise RuleViolation(
            "Informe em move_to uma etapa diferente da que será removida.",
            field="move_to",
            code="invalid_move_to",
        )
    if removed.kind.closes and target.kind is not removed.kind:
        raise RuleViolation(
            f"Os leads da etapa '{removed.name}' ({removed.kind.value}) só podem ir para outra "
            f"etapa do tipo {removed.kind.value}.",
            field="move_to",
            code="invalid_move_to",
        )
    if not removed.kind.closes and target.kind.closes:
        raise RuleViolation(
            f"Os leads da etapa '{removed.name}' não podem ser encerrados ao remover a etapa; "
            "escolha em move_to uma etapa do tipo open ou qualified.",
            field="move_to",
            code="invalid_move_to",
        )
