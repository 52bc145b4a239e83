"""Companies for selection and lead tests, stored the way an api-cnaes lookup stores them.

CNPJs get real check digits, because selections and imports validate them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from domain.cnpj import check_digits


def valid_cnpj(number: int, *, order: int = 1) -> str:
    """A valid 14-digit CNPJ, unique per (``number``, ``order``)."""
    base = f"{number:08d}{order:04d}"
    return base + check_digits(base)


async def store_companies(
    database_url: str,
    cnpjs: Sequence[str],
    *,
    phones: Sequence[Sequence[str]] | None = None,
    emails: Sequence[str | None] | None = None,
    uf: str = "PR",
    ibge_code: str = "4106902",
    cnae: str = "1091102",
) -> None:
    """Store one company per CNPJ in ``external_company``; by default each has a phone and an e-mail."""
    rows = []
    for index, cnpj in enumerate(cnpjs):
        phone_list = list(phones[index]) if phones is not None else [f"+55419{index:08d}"]
        email = emails[index] if emails is not None else f"contato{index}@padaria{index}.com.br"
        rows.append(
            (
                cnpj, "api-cnaes", f"PADARIA {index} LTDA", f"Padaria {index}", cnae, uf,
                ibge_code, phone_list, email, json.dumps({"cnpj": cnpj}),
            )
        )  # fmt: skip
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO external_company (cnpj, source, legal_name, trade_name, cnae_primary, "
            "uf, ibge_code, phones, email, payload) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) ON CONFLICT (cnpj) DO NOTHING",
            rows,
        )
    finally:
        await conn.close()
