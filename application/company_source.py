"""Port for an external source of company data, used when the local registry lacks it.

Companies travel as plain dicts because the external source decides which
fields it returns. Each dict has at least ``cnpj``: a string of 14 characters,
never a number, because alphanumeric CNPJs are valid.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import attrs

Company = dict[str, Any]


@attrs.frozen
class SourcePage:
    """One page of companies and the paging numbers the source reported with it."""

    items: list[Company]
    page: int
    per_page: int
    total_items: int


class SourceErrorKind(enum.Enum):
    """Category of a failed call to the company source."""

    TIMEOUT = "timeout"
    #: The circuit breaker is open, or the request failed before any response arrived.
    UNAVAILABLE = "unavailable"
    RATE_LIMITED = "rate_limited"
    #: The source rejected the request with a 4xx other than 429, so retrying cannot help.
    CLIENT_ERROR = "client_error"
    #: The source returned 5xx or a body outside its wire format.
    SERVER_ERROR = "server_error"


class CompanySourceError(Exception):
    """A failed call to the company source, with the HTTP status when there was one.

    ``code`` and ``message`` come from the source's error body when it sent one,
    so ``message`` is for logs, and user-facing text belongs to the caller.
    """

    def __init__(
        self,
        kind: SourceErrorKind,
        status: int | None,
        code: str,
        message: str,
    ) -> None:
        super().__init__(f"{kind.value}: {code}: {message} (status {status})")
        self.kind = kind
        self.status = status
        self.code = code
        self.message = message


class CompanySource(Protocol):
    """An external companies API: lookups by CNPJ, filtered lists and searches."""

    async def get_company(self, cnpj: str) -> Company | None:
        """Fetch one company by CNPJ, or None when the source has no such company."""
        ...

    async def list_companies(
        self, *, page: int = 1, per_page: int = 100, **filters: str | int
    ) -> SourcePage:
        """Fetch one page of companies that match ``filters`` (field name to value)."""
        ...

    async def search(
        self, query: Mapping[str, Any], *, page: int = 1, per_page: int = 100
    ) -> SourcePage:
        """Fetch one page of the results of a structured search ``query``."""
        ...

    def walk_search(self, query: Mapping[str, Any]) -> AsyncIterator[Company]:
        """Yield every result of ``query`` once, fetching page after page."""
        ...

    async def health(self) -> bool:
        """Return True when the source reports itself healthy."""
        ...
