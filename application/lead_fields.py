"""The tenant's custom fields of leads: the port that stores their definitions, and the use case.

A definition names a key, a label and a type; the values live in each lead's
``custom_fields``. Removing a definition or narrowing a choice list keeps the
values already stored on leads, so no data is lost by editing the schema.
Positions run 0..n-1 without gaps, in the order the fields are shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from application.ports import UnitOfWork
from domain.audit import Actor, AuditEvent
from domain.errors import Conflict, NotFound, RuleViolation
from domain.leads import MAX_CUSTOM_FIELDS, LeadField, lead_field
from domain.pipelines import insertion_position, moved_position, reordered
from domain.search import Page, PageRequest


class LeadFieldRepository(Protocol):
    async def lead_fields(self) -> list[LeadField]:
        """Return every custom field of the tenant, by position."""
        ...

    async def page(self, page: PageRequest) -> Page:
        """Return one page of the tenant's custom fields, by position."""
        ...

    async def get(self, key: str) -> LeadField | None: ...

    async def lock(self) -> None:
        """Serialise changes to the tenant's field definitions until the transaction ends."""
        ...

    async def add(self, field: LeadField) -> None: ...

    async def update(self, field: LeadField) -> None:
        """Store the label, choices and required flag of an existing field."""
        ...

    async def set_positions(self, keys: Sequence[str]) -> None:
        """Give each field its index in ``keys`` as position."""
        ...

    async def remove(self, key: str) -> None: ...


@attrs.frozen(kw_only=True)
class FieldChanges:
    """Changes requested by a PATCH of a field; a None value keeps the stored one."""

    label: str | None = None
    type: str | None = None
    choices: Sequence[str] | None = None
    required: bool | None = None
    position: int | None = None


class ManageLeadFields:
    """Define, change and remove the custom fields of the tenant's leads."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def list(self, tenant_id: str, page: PageRequest) -> Page:
        async with self._uow.tenant(tenant_id) as scope:
            return await scope.lead_fields.page(page)

    async def create(
        self,
        actor: Actor,
        tenant_id: str,
        *,
        key: str,
        label: str,
        type_: str,
        choices: Sequence[str] = (),
        required: bool = False,
        position: int | None = None,
    ) -> LeadField:
        field = lead_field(key, label, type_, choices=choices, required=required)

        async with self._uow.tenant(tenant_id) as scope:
            await scope.lead_fields.lock()
            fields = await scope.lead_fields.lead_fields()
            if any(existing.key == field.key for existing in fields):
                raise Conflict(
                    f"Já existe um campo personalizado com a chave '{field.key}'.",
                    field="key",
                    code="field_key_taken",
                )
            if len(fields) >= MAX_CUSTOM_FIELDS:
                raise RuleViolation(
                    f"O tenant já tem {MAX_CUSTOM_FIELDS} campos personalizados, o máximo.",
                    code="too_many_custom_fields",
                )
            at = insertion_position(position, len(fields))
            field = attrs.evolve(field, position=at)
            await scope.lead_fields.add(field)
            keys = [existing.key for existing in fields]
            await scope.lead_fields.set_positions(reordered(keys, field.key, at))
            await scope.audit.record(
                _audit("lead_field.created", actor, tenant_id, field.key, after=_summary(field))
            )
        return field

    async def update(
        self, actor: Actor, tenant_id: str, key: str, changes: FieldChanges
    ) -> LeadField:
        """Change a field's label, choices, required flag or position; its type is fixed."""
        async with self._uow.tenant(tenant_id) as scope:
            await scope.lead_fields.lock()
            fields = await scope.lead_fields.lead_fields()
            before = next((field for field in fields if field.key == key), None)
            if before is None:
                raise NotFound(f"Campo personalizado não encontrado: '{key}'.")
            if changes.type is not None and changes.type != before.type.value:
                raise RuleViolation(
                    f"O tipo do campo '{before.key}' ({before.type.value}) não pode mudar; crie "
                    "um campo novo com outra chave.",
                    field="type",
                    code="field_type_immutable",
                )

            after = lead_field(
                before.key,
                changes.label if changes.label is not None else before.label,
                before.type.value,
                choices=changes.choices if changes.choices is not None else before.choices,
                required=changes.required if changes.required is not None else before.required,
                position=before.position,
            )
            if after != before:
                await scope.lead_fields.update(after)
            if changes.position is not None and changes.position != before.position:
                at = moved_position(changes.position, len(fields))
                keys = [field.key for field in fields]
                await scope.lead_fields.set_positions(reordered(keys, before.key, at))
                after = attrs.evolve(after, position=at)

            if after != before:
                await scope.audit.record(
                    _audit(
                        "lead_field.updated",
                        actor,
                        tenant_id,
                        key,
                        before=_summary(before),
                        after=_summary(after),
                    )
                )
        return after

    async def remove(self, actor: Actor, tenant_id: str, key: str) -> LeadField:
        """Delete a definition; the values stored on leads under its key stay where they are."""
        async with self._uow.tenant(tenant_id) as scope:
            await scope.lead_fields.lock()
            fields = await scope.lead_fields.lead_fields()
            field = next((existing for existing in fields if existing.key == key), None)
            if field is None:
                raise NotFound(f"Campo personalizado não encontrado: '{key}'.")
            await scope.lead_fields.remove(field.key)
            await scope.lead_fields.set_positions(
                [existing.key for existing in fields if existing.key != field.key]
            )
            await scope.audit.record(
                _audit("lead_field.removed", actor, tenant_id, key, before=_summary(field))
            )
        return field


def _summary(field: LeadField) -> dict[str, Any]:
    return {
        "label": field.label,
        "type": field.type.value,
        "choices": list(field.choices),
        "required": field.required,
        "position": field.position,
    }


def _audit(
    action: str,
    actor: Actor,
    tenant_id: str,
    key: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent(
        action=action,
        actor=actor,
        tenant_id=tenant_id,
        target_type="lead_field",
        target_id=key,
        before=before,
        after=after,
    )
