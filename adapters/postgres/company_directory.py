"""The ``CompanyDirectory`` port over the live registry month and ``external_company``.

The live month is the ``registry`` schema: a new month is published by
swapping schemas, so plain ``registry.`` names always read the live one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.database import raw_connection
from application.company_directory import REGISTRY, CompanyContacts

#: CNPJs per query; a 5,000-company selection takes five round trips.
BATCH_SIZE = 1000

# One statement per batch: registry establishments first, then stored external
# companies that the registry lacks. Only phones of a valid kind and valid
# e-mails count as contacts.
_CONTACTS = f"""
    SELECT '{REGISTRY}' AS source, e.cnpj, c.legal_name, e.trade_name, e.cnae_primary, e.uf,
           e.ibge_code,
           array_remove(ARRAY[
               CASE WHEN e.phone1_kind IN ('mobile', 'landline') THEN e.phone1 END,
               CASE WHEN e.phone2_kind IN ('mobile', 'landline') THEN e.phone2 END,
               CASE WHEN e.fax_kind IN ('mobile', 'landline') THEN e.fax END
           ], NULL) AS phones,
           CASE WHEN e.email_valid THEN e.email END AS email
    FROM registry.establishment e
    LEFT JOIN registry.company c ON c.cnpj_root = e.cnpj_root
    WHERE e.cnpj = ANY($1::text[])
    UNION ALL
    SELECT x.source, x.cnpj, x.legal_name, x.trade_name, x.cnae_primary, x.uf, x.ibge_code,
           x.phones, x.email
    FROM external_company x
    WHERE x.cnpj = ANY($1::text[])
      AND NOT EXISTS (SELECT 1 FROM registry.establishment e WHERE e.cnpj = x.cnpj)
"""


class PostgresCompanyDirectory:
    """Contacts lookup that sends one query per batch of ``batch_size`` CNPJs."""

    def __init__(self, engine: AsyncEngine, *, batch_size: int = BATCH_SIZE) -> None:
        self._engine = engine
        self._batch_size = batch_size

    async def contacts(self, cnpjs: Sequence[str]) -> dict[str, CompanyContacts]:
        wanted = list(dict.fromkeys(cnpjs))
        found: dict[str, CompanyContacts] = {}
        if not wanted:
            return found

        async with raw_connection(self._engine) as conn:
            for start in range(0, len(wanted), self._batch_size):
                batch = wanted[start : start + self._batch_size]
                for row in await conn.fetch(_CONTACTS, batch):
                    # setdefault: a CNPJ present in two UF partitions is listed once.
                    found.setdefault(
                        row["cnpj"],
                        CompanyContacts(
                            cnpj=row["cnpj"],
                            legal_name=row["legal_name"],
                            trade_name=row["trade_name"],
                            cnae_primary=row["cnae_primary"],
                            uf=row["uf"],
                            ibge_code=row["ibge_code"],
                            phones=tuple(dict.fromkeys(row["phones"] or [])),
                            email=row["email"],
                            source=row["source"],
                        ),
                    )
        return found
