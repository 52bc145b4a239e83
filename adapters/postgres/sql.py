"""Small helpers for SQL built from optional filters."""

from __future__ import annotations

from typing import Any


class SqlParams:
    """Collects bind values and hands out their ``$n`` placeholders, in order."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def coded(code: str | None, description: str | None) -> dict[str, Any] | None:
    """Pair a registry code with its description, as search results show it; None without a code."""
    if code is None:
        return None
    return {"code": code, "description": description}


def not_selected_or_lead(cnpj_column: str, tenant: str) -> list[str]:
    """Conditions that leave out CNPJs the tenant already has as a pre-lead or a lead."""
    return [
        f"NOT EXISTS (SELECT 1 FROM {table} y WHERE y.tenant_id = {tenant} "
        f"AND y.cnpj = {cnpj_column})"
        for table in ("prelead", "lead")
    ]
