"""``PostgresCompanyDirectory`` against the real PostgreSQL: registry first, then api-cnaes rows.

The test inserts its own establishments into the live registry schema (in
Amapá, with CNPJs no generated month uses) and its own ``external_company``
rows, and removes both afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.postgres.company_directory import PostgresCompanyDirectory
from application.company_directory import CompanyContacts
from application.external_companies import ExternalCompany
from entrypoints.container import Container, provide
from tests.support.fake_api_cnaes import make_cnpj

UF = "AP"
MACAPA = "1600303"
BASE = 700_000


def cnpj_of(number: int) -> str:
    return make_cnpj(BASE + number)


#: Registry establishments: number -> (phone1, phone1_kind, phone2, phone2_kind, email, valid).
REGISTRY_ROWS = {
    1: ("+559632121000", "landline", "+5596991110001", "mobile", "loja@exemplo.com.br", True),
    # Receita's placeholder phone and a broken e-mail are not contacts.
    2: ("9699999999", "invalid", None, None, "sem-arroba.com.br", False),
    # Also stored from api-cnaes: the registry wins.
    3: ("+5596991110003", "mobile", "+5596991110003", "mobile", None, None),
}
EXTERNAL_NUMBERS = (3, 4, 5)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    registry_cnpjs = [cnpj_of(n) for n in REGISTRY_ROWS]
    external_cnpjs = [cnpj_of(n) for n in EXTERNAL_NUMBERS]
    for number, (phone1, kind1, phone2, kind2, email, valid) in REGISTRY_ROWS.items():
        cnpj = cnpj_of(number)
        await conn.execute(
            """
            INSERT INTO registry.establishment (cnpj, cnpj_root, is_head_office, trade_name,
                cnae_primary, uf, ibge_code, phone1, phone1_kind, phone2, phone2_kind, email,
                email_valid, source_file_id, source_line)
            VALUES ($1, $2, true, $3, '4781400', $4, $5, $6, $7, $8, $9, $10, $11, 1, $12)
            """,
            cnpj,
            cnpj[:8],
            f"LOJA AMAPA {number}",
            UF,
            MACAPA,
            phone1,
            kind1,
            phone2,
            kind2,
            email,
            valid,
            number,
        )
    try:
        yield conn
    finally:
        await conn.execute(
            "DELETE FROM registry.establishment WHERE uf = $1 AND cnpj = ANY($2::text[])",
            UF,
            registry_cnpjs,
        )
        await conn.execute(
            "DELETE FROM external_company WHERE cnpj = ANY($1::text[])", external_cnpjs
        )
        await conn.close()


@pytest.fixture
async def directory(container: Container, db: asyncpg.Connection) -> PostgresCompanyDirectory:
    store = await provide(container.external_companies)
    companies = [
        ExternalCompany(
            cnpj=cnpj_of(number),
            legal_name=f"Comercio Amapa {number} Ltda",
            trade_name=None,
            cnae_primary="4781400",
            uf=UF,
            ibge_code=MACAPA,
            is_head_office=True,
            phones=(f"+559699222000{number}",),
            email=f"vendas{number}@amapa.com.br",
            payload={"cnpj": cnpj_of(number)},
        )
        for number in EXTERNAL_NUMBERS
    ]
    await store.save_companies(companies, "api-cnaes", dt.datetime.now(dt.UTC))
    built: PostgresCompanyDirectory = await provide(container.company_directory)
    return built


async def test_registry_contacts_only_valid(directory: PostgresCompanyDirectory) -> None:
    found = await directory.contacts([cnpj_of(1), cnpj_of(2)])

    assert found[cnpj_of(1)] == CompanyContacts(
        cnpj=cnpj_of(1),
        legal_name=None,
        trade_name="LOJA AMAPA 1",
        cnae_primary="4781400",
        uf=UF,
        ibge_code=MACAPA,
        phones=("+559632121000", "+5596991110001"),
        email="loja@exemplo.com.br",
        source="registry",
    )
    assert found[cnpj_of(2)].phones == ()
    assert found[cnpj_of(2)].email is None


async def test_repeated_phone_listed_once(directory: PostgresCompanyDirectory) -> None:
    found = await directory.contacts([cnpj_of(3)])

    assert found[cnpj_of(3)].phones == ("+5596991110003",)


async def test_registry_wins_over_external(directory: PostgresCompanyDirectory) -> None:
    found = await directory.contacts([cnpj_of(3)])

    assert found[cnpj_of(3)].source == "registry"


async def test_external_company_contacts(directory: PostgresCompanyDirectory) -> None:
    found = await directory.contacts([cnpj_of(4)])

    assert found[cnpj_of(4)] == CompanyContacts(
        cnpj=cnpj_of(4),
        legal_name="Comercio Amapa 4 Ltda",
        trade_name=None,
        cnae_primary="4781400",
        uf=UF,
        ibge_code=MACAPA,
        phones=("+5596992220004",),
        email="vendas4@amapa.com.br",
        source="api-cnaes",
    )


async def test_unknown_cnpjs_absent(directory: PostgresCompanyDirectory) -> None:
    found = await directory.contacts([make_cnpj(BASE + 999), cnpj_of(5)])

    assert list(found) == [cnpj_of(5)]


async def test_empty_request_returns_empty(directory: PostgresCompanyDirectory) -> None:
    assert await directory.contacts([]) == {}


async def test_large_selection_across_batches(directory: PostgresCompanyDirectory) -> None:
    # 5,000 CNPJs, as a full selection: five batches of 1,000 with the known
    # ones in the first, third and last batch.
    unknown = [make_cnpj(BASE + 10_000 + n) for n in range(4_995)]
    known = [cnpj_of(n) for n in (1, 2, 3, 4, 5)]
    cnpjs = [known[0], *unknown[:2000], known[1], known[2], *unknown[2000:], known[3], known[4]]

    found = await directory.contacts(cnpjs)

    assert len(cnpjs) == 5000
    assert sorted(found) == sorted(known)
    assert {contacts.source for contacts in found.values()} == {"registry", "api-cnaes"}


async def test_small_batches_give_same_result(
    container: Container, directory: PostgresCompanyDirectory
) -> None:
    engine = await provide(container.app_engine)
    cnpjs = [cnpj_of(n) for n in range(1, 8)]

    in_batches_of_two = await PostgresCompanyDirectory(engine, batch_size=2).contacts(cnpjs)

    assert in_batches_of_two == await directory.contacts(cnpjs)
    assert len(in_batches_of_two) == 5
