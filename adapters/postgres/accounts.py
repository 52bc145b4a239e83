"""Accounts, login sessions and single-use account tokens in PostgreSQL."""

from __future__ import annotations

import asyncpg


class PostgresAccounts:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
