"""Rules for the shape of a pipeline and the timeline inputs, without I/O."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.errors import RuleViolation
from domain.leads import Stage, StageKind
from domain.pipelines import (
    MAX_STAGES,
    check_kind_change,
    check_move_target,
    check_stage_layout,
    insertion_position,
    moved_position,
    pipeline_name,
    reordered,
    stage_kind,
    stage_name,
)
from domain.timeline import (
    CLOCK_SKEW,
    interaction_content,
    interaction_time,
    note_body,
    task_title,
)

OPEN, QUALIFIED, WON, LOST = StageKind.OPEN, StageKind.QUALIFIED, StageKind.WON, StageKind.LOST

VALID = [("Novo", OPEN), ("Qualificado", QUALIFIED), ("Ganho", WON), ("Perdido", LOST)]


def code_of(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(RuleViolation) as raised:
        call(*args, **kwargs)  # type: ignore[operator]
    return raised.value.code


def stage(kind: StageKind, name: str = "Etapa", stage_id: str = "s1") -> Stage:
    return Stage(id=stage_id, name=name, position=0, kind=kind)


def test_layout_accepts_the_default_shape() -> None:
    check_stage_layout(VALID)
    check_stage_layout([*VALID, ("Proposta", OPEN), ("Arquivado", LOST)])


@pytest.mark.parametrize(
    ("stages", "code"),
    [
        ([("Novo", OPEN), ("Ganho", WON), ("Perdido", LOST)], "qualified_stage_count"),
        ([*VALID, ("Requalificado", QUALIFIED)], "qualified_stage_count"),
        ([("Qualificado", QUALIFIED), ("Ganho", WON), ("Perdido", LOST)], "missing_stage_kind"),
        ([("Novo", OPEN), ("Qualificado", QUALIFIED), ("Perdido", LOST)], "missing_stage_kind"),
        ([("Novo", OPEN), ("Qualificado", QUALIFIED), ("Ganho", WON)], "missing_stage_kind"),
        ([*VALID, ("NOVO", OPEN)], "duplicate_stage_name"),
        ([*VALID, *((f"Etapa {n}", OPEN) for n in range(MAX_STAGES))], "too_many_stages"),
    ],
    ids=["no-qualified", "two-qualified", "no-open", "no-won", "no-lost", "same-name", "too-many"],
)
def test_layout_rejects(stages: list[tuple[str, StageKind]], code: str) -> None:
    assert code_of(check_stage_layout, stages) == code


def test_names_are_normalised() -> None:
    assert pipeline_name("  Funil   de  parcerias ") == "Funil de parcerias"
    assert stage_name(" Em\tcontato ") == "Em contato"
    assert code_of(pipeline_name, "   ") == "invalid_pipeline_name"
    assert code_of(pipeline_name, "x" * 121) == "invalid_pipeline_name"
    assert code_of(stage_name, "x" * 81) == "invalid_stage_name"


def test_stage_kind_parses_known_values_only() -> None:
    assert stage_kind("won") is WON
    assert code_of(stage_kind, "closed") == "invalid_stage_kind"


def test_positions_stay_within_the_list() -> None:
    assert insertion_position(None, 4) == 4
    assert insertion_position(0, 4) == 0
    assert insertion_position(4, 4) == 4
    assert code_of(insertion_position, 5, 4) == "invalid_position"
    assert code_of(insertion_position, -1, 4) == "invalid_position"
    assert moved_position(3, 4) == 3
    assert code_of(moved_position, 4, 4) == "invalid_position"


def test_reordered_leaves_no_gaps() -> None:
    assert reordered(["a", "b", "c", "d"], "d", 0) == ["d", "a", "b", "c"]
    assert reordered(["a", "b", "c", "d"], "a", 3) == ["b", "c", "d", "a"]
    assert reordered(["a", "b", "c"], "new", 1) == ["a", "new", "b", "c"]


def test_kind_change_keeps_leads_state() -> None:
    check_kind_change(stage(OPEN), QUALIFIED, lead_count=3)
    check_kind_change(stage(OPEN), WON, lead_count=0)
    assert code_of(check_kind_change, stage(OPEN), WON, 1) == "stage_has_leads"
    assert code_of(check_kind_change, stage(LOST), OPEN, 1) == "stage_has_leads"
    assert code_of(check_kind_change, stage(WON), LOST, 1) == "stage_has_leads"


def test_move_target_keeps_leads_state() -> None:
    check_move_target(stage(OPEN), stage(QUALIFIED, stage_id="s2"))
    check_move_target(stage(WON), stage(WON, stage_id="s2"))
    assert code_of(check_move_target, stage(OPEN), stage(OPEN)) == "invalid_move_to"
    assert code_of(check_move_target, stage(OPEN), stage(LOST, stage_id="s2")) == "invalid_move_to"
    assert code_of(check_move_target, stage(WON), stage(LOST, stage_id="s2")) == "invalid_move_to"
    assert code_of(check_move_target, stage(LOST), stage(OPEN, stage_id="s2")) == "invalid_move_to"


def test_timeline_texts_are_bounded() -> None:
    assert note_body("  linha 1\nlinha 2  ") == "linha 1\nlinha 2"
    assert code_of(note_body, " \n ") == "invalid_note"
    assert task_title("  Ligar   amanhã ") == "Ligar amanhã"
    assert code_of(task_title, "x" * 301) == "invalid_task_title"
    assert interaction_content("   ") is None
    assert interaction_content(None) is None
    assert code_of(interaction_content, "x" * 20001) == "content_too_long"


def test_interaction_time_bounds() -> None:
    now = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)

    assert interaction_time(None, now) == now
    assert interaction_time(now + CLOCK_SKEW, now) == now + CLOCK_SKEW
    assert interaction_time(now - dt.timedelta(days=30), now) == now - dt.timedelta(days=30)
    assert code_of(interaction_time, now + CLOCK_SKEW + dt.timedelta(seconds=1), now) == (
        "occurred_at_in_future"
    )
