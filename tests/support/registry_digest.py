"""Fingerprints of the live registry, to compare two ingestions of the same month."""

from __future__ import annotations

import asyncpg

from adapters.postgres.registry_staging import TABLE_FOR_KIND

#: Every registry table a month fills.
REGISTRY_TABLES = (*sorted(set(TABLE_FOR_KIND.values())), "shared_contact")


async def registry_digests(conn: asyncpg.Connection) -> dict[str, tuple[int, str]]:
    """Return the row count and an md5 of all rows, in a fixed order, of each registry table."""
    digests = {}
    for table in REGISTRY_TABLES:
        row = await conn.fetchrow(
            f"SELECT count(*) AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS digest "
            f"FROM registry.{table} t"
        )
        digests[table] = (row["n"], row["digest"])
    return digests
