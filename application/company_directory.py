"""Read port for the contacts of companies, from the registry or from an external source.

Selections use it to reach the companies a sales rep picked: the live
registry month first, then the companies stored from an external source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

#: ``CompanyContacts.source`` of a company found in the live registry month.
REGISTRY = "registry"


@attrs.frozen(kw_only=True)
class CompanyContacts:
    """Name, activity, place and working contacts of one establishment."""

    cnpj: str
    legal_name: str | None
    trade_name: str | None
    cnae_primary: str | None
    uf: str | None
    ibge_code: str | None
    #: Valid mobile and landline numbers in E.164, such as +5511987654321.
    phones: tuple[str, ...]
    #: Lower-cased e-mail address, only when it is syntactically valid.
    email: str | None
    #: ``registry``, or the external source's name (``api-cnaes``) the company was stored from.
    source: str


class CompanyDirectory(Protocol):
    async def contacts(self, cnpjs: Sequence[str]) -> dict[str, CompanyContacts]:
        """Return the contacts of each known CNPJ (14-character text) by CNPJ.

        The registry wins when both it and an external source know a CNPJ.
        CNPJs known nowhere are absent from the result.
        """
        ...
