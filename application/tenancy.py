"""Host use cases: plans, tenants, tenant settings and usage."""

from __future__ import annotations

from typing import Protocol


class TenantRepository(Protocol):
    pass


class PlanRepository(Protocol):
    pass
