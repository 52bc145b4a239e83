"""Pipelines of the tenant's CRM: the port that stores them, and the use case that shapes them.

Changing a pipeline (its name, which one is the default, its stages and
their order) needs the ``crm:manage`` permission. Every change checks the
whole stage list against ``domain.pipelines.check_stage_layout`` before it
is written, and keeps stage positions at 0..n-1 without gaps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from application.ports import UnitOfWork
from domain.audit import Actor, AuditEvent
from domain.errors import Conflict, NotFound, RuleViolation
from domain.leads import Pipeline, Stage, StageKind
from domain.pipelines import (
    MAX_PIPELINES,
    STAGE_REMOVED_REASON,
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
from domain.search import Page, PageRequest


class PipelineRepository(Protocol):
    async def get(self, pipeline_id: str) -> Pipeline | None: ...

    async def default(self) -> Pipeline:
        """Return the tenant's default pipeline, created with the default stages when missing."""
        ...

    async def stage_pipeline(self, stage_id: str) -> Pipeline | None:
        """Return the pipeline that contains ``stage_id``, or None when no such stage exists."""
        ...

    async def list(self, page: PageRequest) -> Page:
        """Return a page of the tenant's pipelines, the default first, then by name."""
        ...

    async def count(self) -> int: ...

    async def lock_all(self) -> None:
        """Serialise changes to the tenant's set of pipelines until the transaction ends."""
        ...

    async def get_for_update(self, pipeline_id: str) -> Pipeline | None:
        """Return the pipeline and lock its row until the transaction ends."""
        ...

    async def name_taken(self, name: str, *, except_id: str | None = None) -> bool:
        """Tell whether another pipeline of the tenant has ``name``, ignoring case."""
        ...

    async def add(self, name: str, stages: Sequence[tuple[str, StageKind]]) -> Pipeline:
        """Insert a pipeline that is not the default, with stages at positions 0..n-1."""
        ...

    async def rename(self, pipeline_id: str, name: str) -> None: ...

    async def make_default(self, pipeline_id: str) -> None:
        """Make ``pipeline_id`` the default and the previous default an ordinary pipeline."""
        ...

    async def remove(self, pipeline_id: str) -> None:
        """Delete a pipeline and its stages; the caller has checked that no lead is in it."""
        ...

    async def add_stage(self, pipeline_id: str, name: str, kind: StageKind, position: int) -> str:
        """Insert a stage at ``position`` (the caller renumbers the others) and return its id."""
        ...

    async def update_stage(self, stage_id: str, *, name: str, kind: StageKind) -> None: ...

    async def set_positions(self, stage_ids: Sequence[str]) -> None:
        """Give each stage its index in ``stage_ids`` as position."""
        ...

    async def remove_stage(self, stage_id: str) -> None: ...

    async def lead_counts(
        self, pipeline_ids: Sequence[str], *, include_merged: bool = False
    ) -> dict[str, int]:
        """Count the leads per stage id of the given pipelines; stages without leads are absent.

        Merged leads stay out of the counts that users see, as they stay out
        of the lead lists. They still reference their stage, so the checks
        before a removal count them too.
        """
        ...

    async def move_leads(
        self, from_stage_id: str, to_stage_id: str, actor: Actor, reason: str
    ) -> int:
        """Move every lead of one stage to another, writing a ``stage_changed`` event for each.

        Return how many leads moved.
        """
        ...


@attrs.frozen
class PipelineView:
    """A pipeline as the API shows it: its stages and how many leads each holds."""

    pipeline: Pipeline
    lead_counts: Mapping[str, int]


@attrs.frozen(kw_only=True)
class StageInput:
    name: str
    kind: str


class ManagePipelines:
    """Read and change the tenant's pipelines and their stages."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def list(self, tenant_id: str, page: PageRequest) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            found = await scope.pipelines.list(page)
            pipelines = [item for item in found.items if isinstance(item, Pipeline)]
            counts = await scope.pipelines.lead_counts([pipeline.id for pipeline in pipelines])
        views = tuple(PipelineView(pipeline, counts) for pipeline in pipelines)
        return attrs.evolve(found, items=views)

    async def get(self, tenant_id: str, pipeline_id: str) -> PipelineView:
        async with self._uow.tenant(tenant_id) as scope:
            pipeline = _existing(await scope.pipelines.get(pipeline_id), pipeline_id)
            counts = await scope.pipelines.lead_counts([pipeline.id])
        return PipelineView(pipeline, counts)

    async def create(
        self, actor: Actor, tenant_id: str, *, name: str, stages: Sequence[StageInput]
    ) -> PipelineView:
        clean_name = pipeline_name(name)
        layout = [
            (
                stage_name(stage.name, field=f"stages[{index}].name"),
                stage_kind(stage.kind, field=f"stages[{index}].kind"),
            )
            for index, stage in enumerate(stages)
        ]
        check_stage_layout(layout)

        async with self._uow.tenant(tenant_id) as scope:
            await scope.pipelines.lock_all()
            if await scope.pipelines.count() >= MAX_PIPELINES:
                raise RuleViolation(
                    f"O tenant já tem {MAX_PIPELINES} funis, o máximo; remova um funil sem "
                    "leads antes de criar outro.",
                    code="too_many_pipelines",
                )
            if await scope.pipelines.name_taken(clean_name):
                raise _name_taken(clean_name)
            pipeline = await scope.pipelines.add(clean_name, layout)
            await scope.audit.record(
                _audit("pipeline.created", actor, tenant_id, pipeline, after=_summary(pipeline))
            )
        return PipelineView(pipeline, {})

    async def update(
        self,
        actor: Actor,
        tenant_id: str,
        pipeline_id: str,
        *,
        name: str | None = None,
        is_default: bool | None = None,
    ) -> PipelineView:
        """Rename a pipeline or make it the default.

        A default pipeline stops being the default only when another one takes its place.
        """
        clean_name = None if name is None else pipeline_name(name)

        async with self._uow.tenant(tenant_id) as scope:
            await scope.pipelines.lock_all()
            before = _existing(await scope.pipelines.get_for_update(pipeline_id), pipeline_id)
            if is_default is False and before.is_default:
                raise RuleViolation(
                    f"O funil '{before.name}' é o padrão; para trocar o padrão, marque outro "
                    "funil com is_default: true.",
                    field="is_default",
                    code="default_pipeline_required",
                )
            if clean_name is not None and clean_name != before.name:
                if await scope.pipelines.name_taken(clean_name, except_id=before.id):
                    raise _name_taken(clean_name)
                await scope.pipelines.rename(before.id, clean_name)
            if is_default and not before.is_default:
                await scope.pipelines.make_default(before.id)

            after = _existing(await scope.pipelines.get(before.id), pipeline_id)
            counts = await scope.pipelines.lead_counts([after.id])
            if after != before:
                await scope.audit.record(
                    _audit(
                        "pipeline.updated",
                        actor,
                        tenant_id,
                        after,
                        before={"name": before.name, "is_default": before.is_default},
                        after={"name": after.name, "is_default": after.is_default},
                    )
                )
        return PipelineView(after, counts)

    async def remove(self, actor: Actor, tenant_id: str, pipeline_id: str) -> PipelineView:
        """Delete a pipeline that is not the default and contains no lead, merged ones included."""
        async with self._uow.tenant(tenant_id) as scope:
            await scope.pipelines.lock_all()
            pipeline = _existing(await scope.pipelines.get_for_update(pipeline_id), pipeline_id)
            if pipeline.is_default:
                raise Conflict(
                    f"O funil '{pipeline.name}' é o padrão e não pode ser removido; marque outro "
                    "funil como padrão antes.",
                    code="pipeline_is_default",
                )
            leads = sum(
                (await scope.pipelines.lead_counts([pipeline.id], include_merged=True)).values()
            )
            if leads:
                raise Conflict(
                    f"O funil '{pipeline.name}' tem {leads} lead(s); mova-os para outro funil "
                    "antes de removê-lo.",
                    code="pipeline_has_leads",
                )
            await scope.pipelines.remove(pipeline.id)
            await scope.audit.record(
                _audit("pipeline.removed", actor, tenant_id, pipeline, before=_summary(pipeline))
            )
        return PipelineView(pipeline, {})

    async def add_stage(
        self,
        actor: Actor,
        tenant_id: str,
        pipeline_id: str,
        *,
        name: str,
        kind: str,
        position: int | None = None,
    ) -> PipelineView:
        clean_name = stage_name(name)
        new_kind = stage_kind(kind)

        async with self._uow.tenant(tenant_id) as scope:
            pipeline = _existing(await scope.pipelines.get_for_update(pipeline_id), pipeline_id)
            at = insertion_position(position, len(pipeline.stages))
            check_stage_layout(
                [*((stage.name, stage.kind) for stage in pipeline.stages), (clean_name, new_kind)]
            )
            stage_id = await scope.pipelines.add_stage(
                pipeline.id, clean_name, new_kind, len(pipeline.stages)
            )
            ids = [stage.id for stage in pipeline.stages]
            await scope.pipelines.set_positions(reordered(ids, stage_id, at))

            after = _existing(await scope.pipelines.get(pipeline.id), pipeline_id)
            counts = await scope.pipelines.lead_counts([after.id])
            await scope.audit.record(
                _audit(
                    "pipeline_stage.created",
                    actor,
                    tenant_id,
                    after,
                    after={
                        "stage_id": stage_id,
                        "name": clean_name,
                        "kind": new_kind.value,
                        "position": at,
                    },
                )
            )
        return PipelineView(after, counts)

    async def update_stage(
        self,
        actor: Actor,
        tenant_id: str,
        pipeline_id: str,
        stage_id: str,
        *,
        name: str | None = None,
        kind: str | None = None,
        position: int | None = None,
    ) -> PipelineView:
        clean_name = None if name is None else stage_name(name)
        new_kind = None if kind is None else stage_kind(kind)

        async with self._uow.tenant(tenant_id) as scope:
            pipeline = _existing(await scope.pipelines.get_for_update(pipeline_id), pipeline_id)
            stage = _existing_stage(pipeline, stage_id)
            target_name = clean_name if clean_name is not None else stage.name
            target_kind = new_kind if new_kind is not None else stage.kind

            if target_kind is not stage.kind:
                held = await scope.pipelines.lead_counts([pipeline.id], include_merged=True)
                check_kind_change(stage, target_kind, held.get(stage.id, 0))
            check_stage_layout(
                [
                    (target_name, target_kind) if other.id == stage.id else (other.name, other.kind)
                    for other in pipeline.stages
                ]
            )
            if (target_name, target_kind) != (stage.name, stage.kind):
                await scope.pipelines.update_stage(stage.id, name=target_name, kind=target_kind)
            if position is not None and position != stage.position:
                at = moved_position(position, len(pipeline.stages))
                ids = [other.id for other in pipeline.stages]
                await scope.pipelines.set_positions(reordered(ids, stage.id, at))

            after = _existing(await scope.pipelines.get(pipeline.id), pipeline_id)
            counts = await scope.pipelines.lead_counts([after.id])
            changed = after.stage(stage.id)
            if changed != stage and changed is not None:
                await scope.audit.record(
                    _audit(
                        "pipeline_stage.updated",
                        actor,
                        tenant_id,
                        after,
                        before=_stage_summary(stage),
                        after=_stage_summary(changed),
                    )
                )
        return PipelineView(after, counts)

    async def remove_stage(
        self,
        actor: Actor,
        tenant_id: str,
        pipeline_id: str,
        stage_id: str,
        *,
        move_to: str | None = None,
    ) -> PipelineView:
        """Delete a stage; its leads, if any, move to ``move_to`` with one event each."""
        async with self._uow.tenant(tenant_id) as scope:
            pipeline = _existing(await scope.pipelines.get_for_update(pipeline_id), pipeline_id)
            stage = _existing_stage(pipeline, stage_id)
            remaining = [other for other in pipeline.stages if other.id != stage.id]
            check_stage_layout([(other.name, other.kind) for other in remaining])

            held = await scope.pipelines.lead_counts([pipeline.id], include_merged=True)
            moved = 0
            if held.get(stage.id, 0):
                if move_to is None:
                    raise RuleViolation(
                        f"A etapa '{stage.name}' tem {held[stage.id]} lead(s); informe em "
                        "move_to a etapa deste funil que vai recebê-los.",
                        field="move_to",
                        code="move_to_required",
                    )
                target = pipeline.stage(move_to)
                if target is None:
                    raise RuleViolation(
                        f"A etapa '{move_to}' informada em move_to não é deste funil.",
                        field="move_to",
                        code="invalid_move_to",
                    )
                check_move_target(stage, target)
                moved = await scope.pipelines.move_leads(
                    stage.id, target.id, actor, STAGE_REMOVED_REASON
                )

            await scope.pipelines.remove_stage(stage.id)
            await scope.pipelines.set_positions([other.id for other in remaining])

            after = _existing(await scope.pipelines.get(pipeline.id), pipeline_id)
            counts = await scope.pipelines.lead_counts([after.id])
            await scope.audit.record(
                _audit(
                    "pipeline_stage.removed",
                    actor,
                    tenant_id,
                    after,
                    before=_stage_summary(stage),
                    detail={"moved_leads": moved, "move_to": move_to if moved else None},
                )
            )
        return PipelineView(after, counts)


def _existing(pipeline: Pipeline | None, pipeline_id: str) -> Pipeline:
    if pipeline is None:
        raise NotFound(f"Funil não encontrado: '{pipeline_id}'.")
    return pipeline


def _existing_stage(pipeline: Pipeline, stage_id: str) -> Stage:
    stage = pipeline.stage(stage_id)
    if stage is None:
        raise NotFound(f"Etapa não encontrada no funil '{pipeline.name}': '{stage_id}'.")
    return stage


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"Já existe um funil chamado '{name}'; escolha outro nome.",
        field="name",
        code="pipeline_name_taken",
    )


def _summary(pipeline: Pipeline) -> dict[str, Any]:
    return {
        "name": pipeline.name,
        "is_default": pipeline.is_default,
        "stages": [_stage_summary(stage) for stage in pipeline.stages],
    }


def _stage_summary(stage: Stage) -> dict[str, Any]:
    return {
        "id": stage.id,
        "name": stage.name,
        "kind": stage.kind.value,
        "position": stage.position,
    }


def _audit(
    action: str,
    actor: Actor,
    tenant_id: str,
    pipeline: Pipeline,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent(
        action=action,
        actor=actor,
        tenant_id=tenant_id,
        target_type="pipeline",
        target_id=pipeline.id,
        before=before,
        after=after,
        detail=detail,
    )
