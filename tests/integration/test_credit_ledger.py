"""The credit ledger's use cases on PostgreSQL, as the application role under row-level security.

Each test makes its own tenant, so the session's shared database never mixes
balances. Amounts are small on purpose: every expected number can be checked
by hand.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from adapters.postgres.database import app_database_url
from application.credits import CreditMaintenance, Credits, LedgerFilter, QualificationCredits
from domain.audit import Actor, ActorType
from domain.credits import (
    CaptureStatus,
    EntryAlreadyReversed,
    EntryKind,
    EntryNotFound,
    EntryNotReversible,
    InsufficientCredits,
    InvalidCreditOperation,
    PreLeadNotFound,
    ReleaseReason,
    ReleaseStatus,
)
from domain.search import PageRequest
from entrypoints.container import Container, provide
from tests.support.credits import account_row, create_preleads
from tests.support.fixtures import APP_ROLE
from tests.support.identity import create_tenant

HOST_ADMIN = Actor(type=ActorType.ACCOUNT, id=str(uuid.uuid4()), label="ops@garimpo.test")
WORKER = Actor(type=ActorType.SYSTEM, label="qualification")


@pytest.fixture
async def credits(container: Container) -> Credits:
    use_case: Credits = await provide(container.credits)
    return use_case


@pytest.fixture
async def qualification(container: Container) -> QualificationCredits:
    use_case: QualificationCredits = await provide(container.qualification_credits)
    return use_case


@pytest.fixture
async def tenant(database_url: str) -> str:
    return await create_tenant(database_url, f"Ledger {uuid.uuid4().hex[:6]}")


async def kinds_of(credits: Credits, tenant_id: str) -> list[str]:
    return [entry.kind.value async for entry in credits.export(tenant_id, LedgerFilter())]


async def test_hold_then_capture_and_release_move_balance_and_held(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    preleads = await create_preleads(database_url, tenant, 3)
    await credits.grant(HOST_ADMIN, tenant, 10, reason="Compra avulsa")

    held = await qualification.hold(WORKER, tenant, preleads)
    assert (held.available_before, held.available_after, len(held.held)) == (10, 7, 3)
    balance = await credits.balance(tenant)
    assert (balance.balance, balance.held, balance.available) == (10, 3, 7)

    captured = await qualification.capture(WORKER, tenant, preleads[0])
    released = await qualification.release(
        WORKER, tenant, preleads[1], reason=ReleaseReason.NOT_INTERESTED
    )
    released_too = await qualification.release(
        WORKER, tenant, preleads[2], reason=ReleaseReason.NO_ANSWER
    )

    assert captured.status is CaptureStatus.CAPTURED
    assert released.status is released_too.status is ReleaseStatus.RELEASED
    balance = await credits.balance(tenant)
    assert (balance.balance, balance.held, balance.available) == (9, 0, 9)
    assert await kinds_of(credits, tenant) == [
        "grant",
        "hold",
        "hold",
        "hold",
        "capture",
        "release",
        "release",
    ]


async def test_entries_are_numbered_without_gaps_and_chain_their_balances(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    preleads = await create_preleads(database_url, tenant, 2)
    await credits.grant(HOST_ADMIN, tenant, 5)
    await qualification.hold(WORKER, tenant, preleads)
    await qualification.capture(WORKER, tenant, preleads[0])
    await qualification.release(WORKER, tenant, preleads[1], reason=ReleaseReason.INVALID)

    entries = [entry async for entry in credits.export(tenant, LedgerFilter())]

    assert [entry.seq for entry in entries] == list(range(1, len(entries) + 1))
    for previous, entry in zip(entries, entries[1:], strict=False):
        assert entry.balance_before == previous.balance_after
        assert entry.held_before == previous.held_after
    assert await account_row(database_url, tenant) == (4, 0, len(entries))


async def test_repeated_capture_charges_once(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    [prelead] = await create_preleads(database_url, tenant, 1)
    await credits.grant(HOST_ADMIN, tenant, 3)
    await qualification.hold(WORKER, tenant, [prelead])

    first = await qualification.capture(WORKER, tenant, prelead)
    second = await qualification.capture(WORKER, tenant, prelead)

    assert first.status is CaptureStatus.CAPTURED
    assert second.status is CaptureStatus.ALREADY_CAPTURED
    assert second.entry_id == first.entry_id
    assert (await credits.balance(tenant)).balance == 2


async def test_starting_beyond_the_available_credits_says_how_many_are_covered(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    preleads = await create_preleads(database_url, tenant, 5)
    await credits.grant(HOST_ADMIN, tenant, 3)

    with pytest.raises(InsufficientCredits) as refused:
        await qualification.hold(WORKER, tenant, preleads)

    assert (refused.value.available, refused.value.requested) == (3, 5)
    assert refused.value.extensions["available"] == 3
    assert (await credits.balance(tenant)).held == 0

    partial = await qualification.hold(WORKER, tenant, preleads, partial=True)
    assert partial.held == tuple(preleads[:3])
    assert partial.not_covered == tuple(preleads[3:])
    assert (await credits.balance(tenant)).available == 0


async def test_holding_again_keeps_the_open_hold(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    preleads = await create_preleads(database_url, tenant, 2)
    await credits.grant(HOST_ADMIN, tenant, 2)
    await qualification.hold(WORKER, tenant, preleads[:1])

    again = await qualification.hold(WORKER, tenant, preleads)

    assert again.already_held == (preleads[0],)
    assert again.held == (preleads[1],)
    assert (await credits.balance(tenant)).held == 2


async def test_capture_without_hold_uses_an_available_credit_or_waits(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    preleads = await create_preleads(database_url, tenant, 3)
    await credits.grant(HOST_ADMIN, tenant, 1)

    direct = await qualification.capture(WORKER, tenant, preleads[0])
    waiting = await qualification.capture(WORKER, tenant, preleads[1], lead_reference="lead-2")
    waiting_too = await qualification.capture(WORKER, tenant, preleads[2])
    repeated = await qualification.capture(WORKER, tenant, preleads[1])

    assert direct.status is CaptureStatus.CAPTURED_WITHOUT_HOLD
    assert waiting.status is waiting_too.status is repeated.status is CaptureStatus.PENDING_CREDIT
    balance = await credits.balance(tenant)
    assert (balance.balance, balance.pending_captures) == (0, 2)

    # One credit arrives: the oldest waiting capture takes it.
    await credits.grant(HOST_ADMIN, tenant, 1)

    balance = await credits.balance(tenant)
    assert (balance.balance, balance.pending_captures) == (0, 1)
    settled = await qualification.capture(WORKER, tenant, preleads[1])
    assert settled.status is CaptureStatus.ALREADY_CAPTURED

    await credits.grant(HOST_ADMIN, tenant, 5)
    balance = await credits.balance(tenant)
    assert (balance.balance, balance.pending_captures) == (4, 0)


async def test_released_hold_lets_a_waiting_capture_through(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    preleads = await create_preleads(database_url, tenant, 2)
    await credits.grant(HOST_ADMIN, tenant, 1)
    await qualification.hold(WORKER, tenant, preleads[:1])
    waiting = await qualification.capture(WORKER, tenant, preleads[1])
    assert waiting.status is CaptureStatus.PENDING_CREDIT

    released = await qualification.release(
        WORKER, tenant, preleads[0], reason=ReleaseReason.OPT_OUT
    )

    assert released.settled_preleads == (preleads[1],)
    balance = await credits.balance(tenant)
    assert (balance.balance, balance.held, balance.pending_captures) == (0, 0, 0)


async def test_release_without_open_hold_changes_nothing(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    [prelead] = await create_preleads(database_url, tenant, 1)
    await credits.grant(HOST_ADMIN, tenant, 1)

    released = await qualification.release(WORKER, tenant, prelead, reason=ReleaseReason.NO_ANSWER)

    assert released.status is ReleaseStatus.NO_OPEN_HOLD
    assert await kinds_of(credits, tenant) == ["grant"]


async def test_cancelled_job_releases_its_open_holds(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    preleads = await create_preleads(database_url, tenant, 4)
    job = str(uuid.uuid4())
    await credits.grant(HOST_ADMIN, tenant, 4)
    await qualification.hold(WORKER, tenant, preleads, job_id=job)
    await qualification.capture(WORKER, tenant, preleads[0])

    released = await qualification.release_job(WORKER, tenant, job)

    assert released == 3
    balance = await credits.balance(tenant)
    assert (balance.balance, balance.held) == (3, 0)


async def test_reversal_compensates_once(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    [prelead] = await create_preleads(database_url, tenant, 1)
    await credits.grant(HOST_ADMIN, tenant, 2)
    await qualification.hold(WORKER, tenant, [prelead])
    captured = await qualification.capture(WORKER, tenant, prelead)
    assert captured.entry_id is not None

    reversal = await credits.reverse(
        HOST_ADMIN, tenant, captured.entry_id, reason="Lead com telefone errado"
    )

    assert reversal.kind is EntryKind.REVERSAL
    assert reversal.amount == 1
    assert reversal.reverses_entry_id == captured.entry_id
    assert (await credits.balance(tenant)).balance == 2
    with pytest.raises(EntryAlreadyReversed):
        await credits.reverse(HOST_ADMIN, tenant, captured.entry_id, reason="De novo")


async def test_reversal_refuses_holds_and_unknown_entries(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    [prelead] = await create_preleads(database_url, tenant, 1)
    await credits.grant(HOST_ADMIN, tenant, 1)
    await qualification.hold(WORKER, tenant, [prelead])
    page = await credits.ledger(
        tenant, LedgerFilter(kinds=frozenset({EntryKind.HOLD})), PageRequest()
    )
    [hold_entry] = page.items

    with pytest.raises(EntryNotReversible):
        await credits.reverse(HOST_ADMIN, tenant, hold_entry.id, reason="Teste")  # type: ignore[attr-defined]
    with pytest.raises(EntryNotFound):
        await credits.reverse(HOST_ADMIN, tenant, str(uuid.uuid4()), reason="Teste")


async def test_reversing_a_grant_cannot_eat_held_credits(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    [prelead] = await create_preleads(database_url, tenant, 1)
    grant = await credits.grant(HOST_ADMIN, tenant, 1)
    await qualification.hold(WORKER, tenant, [prelead])

    with pytest.raises(InsufficientCredits) as refused:
        await credits.reverse(HOST_ADMIN, tenant, grant.id, reason="Concessão por engano")

    assert refused.value.requested == 1
    assert refused.value.available == 0
    balance = await credits.balance(tenant)
    assert (balance.balance, balance.held) == (1, 1)


async def test_adjustment_needs_a_reason_and_stays_above_zero(
    credits: Credits, tenant: str
) -> None:
    await credits.grant(HOST_ADMIN, tenant, 3)

    with pytest.raises(InvalidCreditOperation) as missing:
        await credits.adjust(HOST_ADMIN, tenant, -1, reason="  ")
    with pytest.raises(InsufficientCredits):
        await credits.adjust(HOST_ADMIN, tenant, -4, reason="Correção")
    adjusted = await credits.adjust(HOST_ADMIN, tenant, -3, reason="Correção de cobrança")

    assert missing.value.field == "reason"
    assert (adjusted.amount, adjusted.balance_after) == (-3, 0)


async def test_grant_with_the_same_key_grants_once(credits: Credits, tenant: str) -> None:
    first = await credits.grant(HOST_ADMIN, tenant, 7, idempotency_key="invoice:in_1")
    second = await credits.grant(HOST_ADMIN, tenant, 7, idempotency_key="invoice:in_1")

    assert first.id == second.id
    assert (await credits.balance(tenant)).balance == 7


async def test_another_tenants_prelead_is_not_found(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    other = await create_tenant(database_url, "Outro tenant")
    [foreign] = await create_preleads(database_url, other, 1)
    await credits.grant(HOST_ADMIN, tenant, 1)

    with pytest.raises(PreLeadNotFound):
        await qualification.hold(WORKER, tenant, [foreign])
    with pytest.raises(PreLeadNotFound):
        await qualification.capture(WORKER, tenant, foreign)
    assert (await credits.balance(tenant)).held == 0


async def test_expired_holds_are_released_by_maintenance(
    container: Container,
    credits: Credits,
    qualification: QualificationCredits,
    database_url: str,
    tenant: str,
) -> None:
    preleads = await create_preleads(database_url, tenant, 2)
    await credits.grant(HOST_ADMIN, tenant, 2)
    await qualification.hold(WORKER, tenant, preleads)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    maintenance = CreditMaintenance(await provide(container.unit_of_work), clock=lambda: later)

    released = await maintenance.release_expired_holds(WORKER)

    assert released >= 2
    balance = await credits.balance(tenant)
    assert (balance.balance, balance.held) == (2, 0)


async def test_credits_past_their_date_expire_and_decreases_take_them_first(
    container: Container,
    credits: Credits,
    qualification: QualificationCredits,
    database_url: str,
    tenant: str,
) -> None:
    preleads = await create_preleads(database_url, tenant, 2)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    await credits.grant(HOST_ADMIN, tenant, 5, reason="Permanentes")
    await credits.grant(HOST_ADMIN, tenant, 3, reason="Do mês", expires_at=expires)

    # Two captures take two of the credits that expire, not the permanent ones.
    await qualification.hold(WORKER, tenant, preleads)
    await qualification.capture(WORKER, tenant, preleads[0])
    await qualification.capture(WORKER, tenant, preleads[1])
    later = expires + dt.timedelta(seconds=1)
    maintenance = CreditMaintenance(await provide(container.unit_of_work), clock=lambda: later)

    await maintenance.expire_credits(WORKER)
    await maintenance.expire_credits(WORKER)

    expiries = [
        entry
        async for entry in credits.export(tenant, LedgerFilter(kinds=frozenset({EntryKind.EXPIRY})))
    ]
    assert [entry.amount for entry in expiries] == [-1]
    assert (await credits.balance(tenant)).balance == 5


async def test_crossing_the_low_balance_threshold_queues_one_alert(
    credits: Credits, qualification: QualificationCredits, database_url: str, tenant: str
) -> None:
    preleads = await create_preleads(database_url, tenant, 4)
    await credits.grant(HOST_ADMIN, tenant, 12)

    # The default threshold is 10: 12 -> 11 stays above, 11 -> 10 crosses,
    # 10 -> 9 stays below.
    for prelead in preleads[:3]:
        await qualification.hold(WORKER, tenant, [prelead])
    await credits.grant(HOST_ADMIN, tenant, 5)
    await qualification.hold(WORKER, tenant, preleads[3:])

    conn = await asyncpg.connect(database_url)
    try:
        alerts = await conn.fetch(
            "SELECT payload FROM notification_outbox WHERE tenant_id = $1 AND kind = 'credits.low' "
            "ORDER BY created_at",
            uuid.UUID(tenant),
        )
    finally:
        await conn.close()
    assert len(alerts) == 1
    assert '"available": 10' in alerts[0]["payload"]


async def test_entries_cannot_be_changed_by_anyone(
    credits: Credits, database_url: str, tenant: str
) -> None:
    await credits.grant(HOST_ADMIN, tenant, 1)
    app = await asyncpg.connect(app_database_url(database_url, APP_ROLE))
    owner = await asyncpg.connect(database_url)
    try:
        async with app.transaction():
            await app.execute("SELECT set_config('garimpo.tenant_id', $1, true)", tenant)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute("UPDATE credit_entry SET amount = 100")

        for statement in (
            "UPDATE credit_entry SET amount = 100 WHERE tenant_id = $1",
            "DELETE FROM credit_entry WHERE tenant_id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await owner.execute(statement, uuid.UUID(tenant))
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await owner.execute("TRUNCATE credit_entry CASCADE")

        assert (
            await owner.fetchval(
                "SELECT count(*) FROM credit_entry WHERE tenant_id = $1", uuid.UUID(tenant)
            )
            == 1
        )
    finally:
        await app.close()
        await owner.close()
