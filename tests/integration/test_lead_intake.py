"""Lead admission as qualification calls it: inside a tenant transaction, under concurrency.

Qualification admits a lead in the transaction that captures the pre-lead's
credit. These tests call ``LeadIntake.admit`` the same way, through the
container's unit of work as the application role, and race admissions to
show that the dedup rules hold when requests overlap.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from application.leads import Admission, LeadDraft, LeadIntake
from application.ports import UnitOfWork
from domain.audit import Actor, ActorType
from domain.leads import Classification, LeadOrigin, ReviewStatus
from entrypoints.container import Container, build_container, provide
from entrypoints.settings import Settings
from tests.support.companies import valid_cnpj
from tests.support.identity import create_tenant, owner_execute

WORKER = Actor(type=ActorType.SYSTEM, label="qualificação")


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    built = build_container(settings)
    await built.init_resources()
    yield built
    await built.shutdown_resources()


def block() -> int:
    return uuid.uuid4().int % 90_000_000


async def admit(uow: UnitOfWork, intake: LeadIntake, tenant_id: str, draft: LeadDraft) -> Admission:
    async with uow.tenant(tenant_id) as scope:
        return await intake.admit(scope, scope.leads, draft, WORKER)


async def test_qualified_lead_enters_qualified_stage(
    container: Container, settings: Settings
) -> None:
    assert settings.database_url
    tenant_id = await create_tenant(settings.database_url, "Atacado Litoral")
    await owner_execute(
        settings.database_url,
        "INSERT INTO webhook_endpoint (tenant_id, url, events, secret) "
        "VALUES ($1, 'https://crm.exemplo.com.br/ganchos', '{lead.qualified}', 'whsec_teste')",
        uuid.UUID(tenant_id),
    )
    uow = await provide(container.unit_of_work)
    intake = await provide(container.lead_intake)
    draft = LeadDraft(
        cnpj=valid_cnpj(block()),
        origin=LeadOrigin.QUALIFICATION,
        company_name="ATACADO LITORAL LTDA",
        phones=("41987654321",),
        classification=Classification.QUALIFIED,
        classification_rule="tenho interesse",
    )

    admission = await admit(uow, intake, tenant_id, draft)

    lead = admission.lead
    conn = await asyncpg.connect(settings.database_url)
    try:
        stage = await conn.fetchval(
            "SELECT name FROM pipeline_stage WHERE id = $1", uuid.UUID(lead.stage_id)
        )
        delivery = await conn.fetchrow(
            "SELECT event_type, payload FROM webhook_delivery WHERE tenant_id = $1",
            uuid.UUID(tenant_id),
        )
    finally:
        await conn.close()
    assert stage == "Qualificado"
    assert lead.classification is Classification.QUALIFIED
    assert delivery["event_type"] == "lead.qualified"
    assert json.loads(delivery["payload"])["data"]["cnpj"] == draft.cnpj


async def test_racing_admissions_dedup(container: Container, settings: Settings) -> None:
    assert settings.database_url
    tenant_id = await create_tenant(settings.database_url, "Corrida de leads")
    uow = await provide(container.unit_of_work)
    intake = await provide(container.lead_intake)
    base = block()
    same_cnpj = LeadDraft(cnpj=valid_cnpj(base), origin=LeadOrigin.QUALIFICATION)
    # Ten companies, all with the same mobile written in different ways.
    sharing = [
        LeadDraft(
            cnpj=valid_cnpj(base, order=order),
            origin=LeadOrigin.QUALIFICATION,
            phones=(("(11) 99876-5432", "+55 11 998765432", "11998765432")[order % 3],),
        )
        for order in range(2, 12)
    ]

    results = await asyncio.gather(
        *(admit(uow, intake, tenant_id, same_cnpj) for _ in range(8)),
        *(admit(uow, intake, tenant_id, draft) for draft in sharing),
    )

    same = results[:8]
    assert sum(1 for result in same if result.created) == 1
    assert len({result.lead.id for result in same}) == 1
    flagged = [result.lead for result in results[8:]]
    normal = [lead for lead in flagged if lead.review_status is None]
    assert len(normal) == 1
    assert all(
        lead.review_status is ReviewStatus.POSSIBLE_DUPLICATE and lead.duplicate_of == normal[0].id
        for lead in flagged
        if lead is not normal[0]
    )
    count = await owner_execute(
        settings.database_url,
        "SELECT count(*) FROM lead WHERE tenant_id = $1",
        uuid.UUID(tenant_id),
    )
    assert count == 11
