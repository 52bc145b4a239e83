"""Hundreds of simultaneous credit operations on one tenant, then the books must balance.

Holds, captures (each sent twice, as a repeated webhook would), releases,
grants (each sent twice with the same idempotency key) and captures without
a hold all start at once over the API's connection pool. Whatever order
PostgreSQL serialises them in, the ledger must add up: the balance equals the
grants minus the captures, the held credits equal the open qualifications,
the entries chain without gaps, nothing went below zero and every
idempotency key produced one entry.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import asyncpg
import pytest

from application.credits import Credits, QualificationCredits
from domain.audit import Actor, ActorType
from domain.credits import CaptureStatus, InsufficientCredits, ReleaseReason
from entrypoints.container import Container, provide
from tests.support.credits import create_preleads
from tests.support.identity import create_tenant

WORKER = Actor(type=ActorType.SYSTEM, label="qualification")
HOST = Actor(type=ActorType.ACCOUNT, id=str(uuid.uuid4()), label="ops@garimpo.test")

QUALIFICATIONS = 150
DIRECT_CAPTURES = 20
GRANTS = 30
CREDITS_PER_GRANT = 3
#: Fewer credits than the work asks for, so some holds are refused or captures wait.
INITIAL_CREDITS = 20


class Outcomes:
    """What each task saw, to compare with what the ledger holds afterwards."""

    def __init__(self) -> None:
        self.held: set[str] = set()
        self.refused: set[str] = set()
        self.captured: set[str] = set()
        self.released: set[str] = set()
        self.left_open: set[str] = set()
        self.direct: Counter[str] = Counter()


async def qualify(
    qualification: QualificationCredits,
    tenant: str,
    prelead: str,
    outcome: int,
    seen: Outcomes,
) -> None:
    try:
        result = await qualification.hold(WORKER, tenant, [prelead])
    except InsufficientCredits:
        seen.refused.add(prelead)
        return
    assert result.held == (prelead,)
    seen.held.add(prelead)

    if outcome == 0:
        # The same classification delivered twice at once: one charge.
        first, second = await asyncio.gather(
            qualification.capture(WORKER, tenant, prelead),
            qualification.capture(WORKER, tenant, prelead),
        )
        statuses = sorted([first.status.value, second.status.value])
        assert statuses == ["already_captured", "captured"], statuses
        seen.captured.add(prelead)
    elif outcome == 1:
        released = await qualification.release(
            WORKER, tenant, prelead, reason=ReleaseReason.NOT_INTERESTED
        )
        assert released.entry_id is not None
        seen.released.add(prelead)
    else:
        seen.left_open.add(prelead)


async def capture_without_hold(
    qualification: QualificationCredits, tenant: str, prelead: str, seen: Outcomes
) -> None:
    captured = await qualification.capture(WORKER, tenant, prelead)
    seen.direct[captured.status.value] += 1


@pytest.fixture
async def tenant(database_url: str) -> str:
    return await create_tenant(database_url, f"Concorrência {uuid.uuid4().hex[:6]}")


async def test_simultaneous_operations_keep_the_ledger_consistent(
    container: Container, database_url: str, tenant: str
) -> None:
    credits: Credits = await provide(container.credits)
    qualification: QualificationCredits = await provide(container.qualification_credits)
    preleads = await create_preleads(database_url, tenant, QUALIFICATIONS + DIRECT_CAPTURES)
    await credits.grant(HOST, tenant, INITIAL_CREDITS, idempotency_key="initial")
    seen = Outcomes()

    tasks = [
        qualify(qualification, tenant, prelead, index % 3, seen)
        for index, prelead in enumerate(preleads[:QUALIFICATIONS])
    ]
    tasks += [
        capture_without_hold(qualification, tenant, prelead, seen)
        for prelead in preleads[QUALIFICATIONS:]
    ]
    # Each grant twice with one key, as a retried request would send it.
    tasks += [
        credits.grant(HOST, tenant, CREDITS_PER_GRANT, idempotency_key=f"grant-{number}")
        for number in range(GRANTS)
        for _ in range(2)
    ]
    assert len(tasks) >= 200
    # Interleaved, so grants land between holds and captures wait for credits.
    random.Random(7).shuffle(tasks)
    await asyncio.gather(*tasks)
    # The pool now keeps every connection the operations ran on.
    connections_used = (await provide(container.app_engine)).pool.checkedin()

    conn = await asyncpg.connect(database_url)
    try:
        account = await conn.fetchrow(
            "SELECT balance, held, last_seq FROM credit_account WHERE tenant_id = $1",
            uuid.UUID(tenant),
        )
        entries = await conn.fetch(
            "SELECT seq, kind, amount, held_change, balance_before, balance_after, "
            "held_before, held_after, reference_id, idempotency_key "
            "FROM credit_entry WHERE tenant_id = $1 ORDER BY seq",
            uuid.UUID(tenant),
        )
        open_holds = await conn.fetch(
            "SELECT prelead_id FROM credit_hold WHERE tenant_id = $1 AND state = 'open'",
            uuid.UUID(tenant),
        )
        pending = await conn.fetch(
            "SELECT prelead_id FROM credit_pending WHERE tenant_id = $1 AND settled_entry_id IS NULL",
            uuid.UUID(tenant),
        )
    finally:
        await conn.close()

    kinds = Counter(row["kind"] for row in entries)
    granted = INITIAL_CREDITS + GRANTS * CREDITS_PER_GRANT

    # The balance is the grants minus the captures, and agrees with the entries.
    assert kinds["grant"] == GRANTS + 1
    assert sum(row["amount"] for row in entries if row["kind"] == "grant") == granted
    assert account["balance"] == granted - kinds["capture"]
    assert account["balance"] == sum(row["amount"] for row in entries)
    assert account["held"] == sum(row["held_change"] for row in entries)

    # Held credits are exactly the qualifications still open.
    assert account["held"] == len(open_holds) == len(seen.left_open)
    assert {str(row["prelead_id"]) for row in open_holds} == seen.left_open

    # Entries are numbered 1..n without gaps and chain their balances; none
    # went below zero and held credits never exceeded the balance.
    assert [row["seq"] for row in entries] == list(range(1, len(entries) + 1))
    assert account["last_seq"] == len(entries)
    for previous, row in zip(entries, entries[1:], strict=False):
        assert row["balance_before"] == previous["balance_after"]
        assert row["held_before"] == previous["held_after"]
    assert all(0 <= row["held_after"] <= row["balance_after"] for row in entries)

    # One entry per idempotency key, one hold per held pre-lead, one capture
    # per charged pre-lead.
    keys = [row["idempotency_key"] for row in entries]
    assert len(keys) == len(set(keys))
    holds = Counter(row["reference_id"] for row in entries if row["kind"] == "hold")
    captures = Counter(row["reference_id"] for row in entries if row["kind"] == "capture")
    releases = Counter(row["reference_id"] for row in entries if row["kind"] == "release")
    assert set(holds) == seen.held
    assert set(holds.values()) == {1}
    assert set(releases) == seen.released
    assert set(releases.values()) <= {1}
    assert set(captures.values()) == {1}
    assert seen.captured <= set(captures)

    # Captures without a hold were charged or wait for credits; none is lost.
    direct = set(preleads[QUALIFICATIONS:])
    assert sum(seen.direct.values()) == DIRECT_CAPTURES
    waiting = {str(row["prelead_id"]) for row in pending}
    charged_direct = set(captures) & direct
    assert charged_direct | waiting == direct
    assert not charged_direct & waiting
    assert set(captures) == seen.captured | charged_direct
    assert seen.direct[CaptureStatus.CAPTURED.value] == 0

    # Every pre-lead's hold was either placed or refused, never both.
    assert seen.held | seen.refused == set(preleads[:QUALIFICATIONS])
    assert connections_used > 1
    # The run met a shortage (refused holds or waiting captures), not just the easy path.
    assert seen.refused or waiting
    assert seen.captured
    assert seen.released
    assert seen.left_open
