"""Pre-leads and credits made over the owner connection, for ledger tests.

Selections build pre-leads through the API elsewhere; ledger tests need a few
hundred of them in one statement, with made-up CNPJs of the right shape.
"""

from __future__ import annotations

import uuid

import asyncpg


def fake_cnpj(number: int) -> str:
    """A 14-digit CNPJ-shaped value, unique per ``number`` (check digits not computed)."""
    return f"{number:012d}00"


async def create_preleads(
    database_url: str, tenant_id: str, count: int, *, start: int = 1
) -> list[str]:
    """Insert ``count`` pre-leads for the tenant and return their ids, in order."""
    ids = [uuid.uuid4() for _ in range(count)]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO prelead (tenant_id, cnpj, id) VALUES ($1, $2, $3)",
            [
                (uuid.UUID(tenant_id), fake_cnpj(start + index), prelead_id)
                for index, prelead_id in enumerate(ids)
            ],
        )
    finally:
        await conn.close()
    return [str(prelead_id) for prelead_id in ids]


async def account_row(database_url: str, tenant_id: str) -> tuple[int, int, int]:
    """(balance, held, last_seq) of the tenant's credit account, read as the owner."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT balance, held, last_seq FROM credit_account WHERE tenant_id = $1",
            uuid.UUID(tenant_id),
        )
    finally:
        await conn.close()
    return (row["balance"], row["held"], row["last_seq"]) if row else (0, 0, 0)
