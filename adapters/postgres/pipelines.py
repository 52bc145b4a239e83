"""Pipelines and their ordered stages in PostgreSQL, one tenant at a time.

Every tenant gets a default pipeline from a trigger on ``tenant``; the
``default`` method still creates one when it is missing, so a tenant restored
from an old backup is never left without a place for its leads.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import asyncpg

from adapters.postgres.ids import parse_uuid
from domain.audit import Actor
from domain.leads import LeadEventKind, Pipeline, Stage, StageKind
from domain.search import Page, PageRequest

_PIPELINES_LOCK_SPACE = 0x7069_7031  # "pip1"


def _stage(row: asyncpg.Record) -> Stage:
    return Stage(
        id=str(row["id"]), name=row["name"], position=row["position"], kind=StageKind(row["kind"])
    )


class PostgresPipelines:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, pipeline_id: str) -> Pipeline | None:
        key = parse_uuid(pipeline_id)
        if key is None:
            return None
        row = await self.conn.fetchrow(
            "SELECT id, name, is_default FROM pipeline WHERE id = $1", key
        )
        return None if row is None else await self._with_stages(row)

    async def default(self) -> Pipeline:
        row = await self.conn.fetchrow("SELECT id, name, is_default FROM pipeline WHERE is_default")
        if row is None:
            await self.conn.execute("SELECT create_default_pipeline(app_tenant())")
            row = await self.conn.fetchrow(
                "SELECT id, name, is_default FROM pipeline WHERE is_default"
            )
        return await self._with_stages(row)

    async def stage_pipeline(self, stage_id: str) -> Pipeline | None:
        """Return the pipeline that contains ``stage_id``, or None when no such stage exists."""
        key = parse_uuid(stage_id)
        if key is None:
            return None
        row = await self.conn.fetchrow(
            "SELECT p.id, p.name, p.is_default FROM pipeline p "
            "JOIN pipeline_stage s ON s.pipeline_id = p.id WHERE s.id = $1",
            key,
        )
        return None if row is None else await self._with_stages(row)

    async def _with_stages(self, row: asyncpg.Record) -> Pipeline:
        stages = await self.conn.fetch(
            "SELECT id, name, position, kind FROM pipeline_stage "
            "WHERE pipeline_id = $1 ORDER BY position",
            row["id"],
        )
        return Pipeline(
            id=str(row["id"]),
            name=row["name"],
            is_default=row["is_default"],
            stages=tuple(_stage(stage) for stage in stages),
        )

    async def list(self, page: PageRequest) -> Page:
        total = await self.conn.fetchval("SELECT count(*) FROM pipeline")
        rows = await self.conn.fetch(
            "SELECT id, name, is_default FROM pipeline "
            "ORDER BY is_default DESC, lower(name), id OFFSET $1 LIMIT $2",
            page.offset,
            page.per_page,
        )
        pipelines = [await self._with_stages(row) for row in rows]
        return Page(
            items=tuple(pipelines), page=page.page, per_page=page.per_page, total_items=int(total)
        )

    async def count(self) -> int:
        return int(await self.conn.fetchval("SELECT count(*) FROM pipeline"))

    async def lock_all(self) -> None:
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(app_tenant()::text))",
            _PIPELINES_LOCK_SPACE,
        )

    async def get_for_update(self, pipeline_id: str) -> Pipeline | None:
        key = parse_uuid(pipeline_id)
        if key is None:
            return None
        row = await self.conn.fetchrow(
            "SELECT id, name, is_default FROM pipeline WHERE id = $1 FOR UPDATE", key
        )
        return None if row is None else await self._with_stages(row)

    async def name_taken(self, name: str, *, except_id: str | None = None) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pipeline WHERE lower(name) = lower($1) "
                "AND id IS DISTINCT FROM $2)",
                name,
                parse_uuid(except_id) if except_id else None,
            )
        )

    async def add(self, name: str, stages: Sequence[tuple[str, StageKind]]) -> Pipeline:
        pipeline_id = await self.conn.fetchval(
            "INSERT INTO pipeline (tenant_id, name) VALUES (app_tenant(), $1) RETURNING id", name
        )
        await self.conn.executemany(
            "INSERT INTO pipeline_stage (tenant_id, pipeline_id, name, position, kind) "
            "VALUES (app_tenant(), $1, $2, $3, $4)",
            [
                (pipeline_id, stage_name, position, kind.value)
                for position, (stage_name, kind) in enumerate(stages)
            ],
        )
        pipeline = await self.get(str(pipeline_id))
        assert pipeline is not None
        return pipeline

    async def rename(self, pipeline_id: str, name: str) -> None:
        await self.conn.execute(
            "UPDATE pipeline SET name = $2, updated_at = now() WHERE id = $1",
            uuid.UUID(pipeline_id),
            name,
        )

    async def make_default(self, pipeline_id: str) -> None:
        # The partial unique index on the default is checked per statement, so
        # the old default is cleared before the new one is set.
        await self.conn.execute(
            "UPDATE pipeline SET is_default = false, updated_at = now() WHERE is_default"
        )
        await self.conn.execute(
            "UPDATE pipeline SET is_default = true, updated_at = now() WHERE id = $1",
            uuid.UUID(pipeline_id),
        )

    async def remove(self, pipeline_id: str) -> None:
        await self.conn.execute("DELETE FROM pipeline WHERE id = $1", uuid.UUID(pipeline_id))

    async def add_stage(self, pipeline_id: str, name: str, kind: StageKind, position: int) -> str:
        stage_id = await self.conn.fetchval(
            "INSERT INTO pipeline_stage (tenant_id, pipeline_id, name, position, kind) "
            "VALUES (app_tenant(), $1, $2, $3, $4) RETURNING id",
            uuid.UUID(pipeline_id),
            name,
            position,
            kind.value,
        )
        await self._touch_stage_pipeline(stage_id)
        return str(stage_id)

    async def update_stage(self, stage_id: str, *, name: str, kind: StageKind) -> None:
        await self.conn.execute(
            "UPDATE pipeline_stage SET name = $2, kind = $3 WHERE id = $1",
            uuid.UUID(stage_id),
            name,
            kind.value,
        )
        await self._touch_stage_pipeline(uuid.UUID(stage_id))

    async def set_positions(self, stage_ids: Sequence[str]) -> None:
        # The unique (pipeline_id, position) constraint is deferred to the
        # commit, so positions may collide between these statements.
        await self.conn.execute(
            "UPDATE pipeline_stage s SET position = o.position - 1 "
            "FROM unnest($1::uuid[]) WITH ORDINALITY AS o (id, position) "
            "WHERE s.id = o.id AND s.position <> o.position - 1",
            [uuid.UUID(stage_id) for stage_id in stage_ids],
        )

    async def remove_stage(self, stage_id: str) -> None:
        key = uuid.UUID(stage_id)
        await self._touch_stage_pipeline(key)
        await self.conn.execute("DELETE FROM pipeline_stage WHERE id = $1", key)

    async def lead_counts(
        self, pipeline_ids: Sequence[str], *, include_merged: bool = False
    ) -> dict[str, int]:
        keys = [key for key in (parse_uuid(value) for value in pipeline_ids) if key is not None]
        rows = await self.conn.fetch(
            # The shown counts match the lead lists: no merged leads and no
            # possible duplicates awaiting review. Removing a stage counts all.
            "SELECT stage_id, count(*) AS leads FROM lead "
            "WHERE pipeline_id = ANY ($1::uuid[]) AND stage_id IS NOT NULL "
            "AND ($2 OR (merged_into IS NULL AND review_status IS NULL)) GROUP BY stage_id",
            keys,
            include_merged,
        )
        return {str(row["stage_id"]): int(row["leads"]) for row in rows}

    async def move_leads(
        self, from_stage_id: str, to_stage_id: str, actor: Actor, reason: str
    ) -> int:
        moved = await self.conn.fetchval(
            """
            WITH moved AS (
                UPDATE lead SET stage_id = $2, stage_entered_at = now(), updated_at = now()
                 WHERE stage_id = $1
                RETURNING id
            ), events AS (
                INSERT INTO lead_event (
                    tenant_id, lead_id, kind, from_stage_id, to_stage_id, reason, data,
                    actor_type, actor_id, actor_label)
                SELECT app_tenant(), moved.id, $3, $1, $2, $4, $5::jsonb, $6, $7, $8 FROM moved
                RETURNING 1
            )
            SELECT count(*) FROM events
            """,
            uuid.UUID(from_stage_id),
            uuid.UUID(to_stage_id),
            LeadEventKind.STAGE_CHANGED.value,
            reason,
            json.dumps({"removed_stage_id": from_stage_id}),
            actor.type.value,
            actor.id,
            actor.label,
        )
        return int(moved)

    async def _touch_stage_pipeline(self, stage_id: uuid.UUID) -> None:
        await self.conn.execute(
            "UPDATE pipeline SET updated_at = now() "
            "WHERE id = (SELECT pipeline_id FROM pipeline_stage WHERE id = $1)",
            stage_id,
        )
