"""Tenants and plans in PostgreSQL."""

from __future__ import annotations

import asyncpg


class PostgresTenants:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn


class PostgresPlans:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
