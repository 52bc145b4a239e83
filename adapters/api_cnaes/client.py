"""HTTP client of api-cnaes, the external companies API used when the local registry lacks data.

Wire format (JSON, every request carries the ``X-API-KEY`` header):

- ``GET /companies/{cnpj}``: 200 with one company, 404 when the API does not
  know the CNPJ.
- ``GET /companies?field=value&page=1&per_page=100``: one page of companies
  whose fields equal the filters.
- ``POST /companies/search`` with ``{"query": {...}, "page": 1, "per_page": 100}``:
  one page of the results of a structured query.
- ``GET /health``: 2xx while the API is healthy.

A list or search page is ``{"data": [company, ...], "meta": {"page": 1,
"per_page": 100, "total_items": 1000, "total_pages": 10}}``. A company is an
object with at least ``cnpj``, a 14-character string (alphanumeric CNPJs
exist, so it is never a number), plus whatever fields the API has. An error is
``{"error": {"code": "...", "message": "..."}}`` with the HTTP status.

Calls retry connection errors, timeouts, 429 and 5xx with exponential backoff
and full jitter, waiting at least ``Retry-After`` when the API sends it. Other
4xx are never retried. A circuit breaker stops calling after consecutive
failed calls, and ``GET /companies/{cnpj}`` goes through a Redis cache.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx
import redis.asyncio as aioredis
import structlog

from adapters.api_cnaes.breaker import CircuitBreaker
from adapters.api_cnaes.cache import CompanyCache
from adapters.api_cnaes.retry import backoff_delay, parse_retry_after
from application.company_source import (
    Company,
    CompanySourceError,
    SourceErrorKind,
    SourcePage,
)
from domain.cnpj import Cnpj

log = structlog.get_logger(__name__)

#: Characters of a non-JSON error body kept as the error message.
_MAX_MESSAGE_CHARS = 300


@attrs.frozen(kw_only=True)
class ApiCnaesConfig:
    """Connection, retry, breaker and cache settings of the api-cnaes client."""

    base_url: str
    api_key: str | None = attrs.field(default=None, repr=False)
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 10.0
    #: Retries after the first attempt, so a call makes at most this plus one requests.
    max_retries: int = 3
    #: First backoff ceiling; the n-th retry draws its delay from 0 to base * 2**n.
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    #: A ``Retry-After`` longer than this is not waited out: the call fails as rate limited.
    max_retry_after_seconds: float = 60.0
    cache_ttl_seconds: int = 43200
    miss_ttl_seconds: int = 900
    #: Seconds a cache read or write may take before the lookup goes on without the cache.
    cache_timeout_seconds: float = 0.5
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 30.0
    #: Page size that ``walk_search`` requests.
    walk_per_page: int = 100


class ApiCnaesClient:
    """A :class:`application.company_source.CompanySource` backed by api-cnaes over HTTP.

    ``sleep``, ``clock``, ``uniform`` and ``now`` exist so tests can record
    backoff delays, fix ``Retry-After`` dates and move the breaker's clock
    without waiting.
    """

    def __init__(
        self,
        config: ApiCnaesConfig,
        *,
        redis: aioredis.Redis | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        uniform: Callable[[float, float], float] = random.uniform,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        headers = {"Accept": "application/json"}
        if config.api_key:
            headers["X-API-KEY"] = config.api_key
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            headers=headers,
            timeout=httpx.Timeout(
                config.read_timeout_seconds, connect=config.connect_timeout_seconds
            ),
            transport=transport,
        )
        self._cache = (
            CompanyCache(
                redis,
                hit_ttl_seconds=config.cache_ttl_seconds,
                miss_ttl_seconds=config.miss_ttl_seconds,
                timeout_seconds=config.cache_timeout_seconds,
            )
            if redis is not None
            else None
        )
        self.breaker = CircuitBreaker(
            failure_threshold=config.breaker_failures,
            cooldown_seconds=config.breaker_cooldown_seconds,
            clock=clock,
        )
        self._sleep = sleep
        self._uniform = uniform
        self._now = now

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ApiCnaesClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # Public operations ---------------------------------------------------

    async def get_company(self, cnpj: str) -> Company | None:
        """Fetch one company by CNPJ, through the cache; None when api-cnaes returns 404.

        Raises ``domain.errors.InvalidCnpj`` for a malformed CNPJ before any call.
        """
        normalised = Cnpj.parse(cnpj).value
        if self._cache is not None:
            cached = await self._cache.get(normalised)
            if cached is not None:
                return cached.company

        response = await self._call("GET", f"/companies/{normalised}", not_found_ok=True)
        company = None if response.status_code == 404 else _parse_company(response)

        if self._cache is not None:
            await self._cache.put(normalised, company)
        return company

    async def list_companies(
        self, *, page: int = 1, per_page: int = 100, **filters: str | int
    ) -> SourcePage:
        """Fetch one page of ``GET /companies`` with ``filters`` as query parameters."""
        params: dict[str, str | int] = {**filters, "page": page, "per_page": per_page}
        response = await self._call("GET", "/companies", params=params)
        return _parse_page(response)

    async def search(
        self, query: Mapping[str, Any], *, page: int = 1, per_page: int = 100
    ) -> SourcePage:
        """Fetch one page of ``POST /companies/search`` for ``query``."""
        body = {"query": dict(query), "page": page, "per_page": per_page}
        response = await self._call("POST", "/companies/search", json=body)
        return _parse_page(response)

    async def walk_search(self, query: Mapping[str, Any]) -> AsyncIterator[Company]:
        """Yield every result of ``query`` once, page after page.

        Pages are requested by number, because the API may return a page with
        more or fewer items than requested. Items whose CNPJ was already
        yielded are skipped, since a page that shifted can repeat them. The
        walk ends after ``total_items`` companies, at an empty page, or at a
        page that brings nothing new.
        """
        per_page = self._config.walk_per_page
        seen: set[str] = set()
        expected_total: int | None = None
        page_number = 1

        while True:
            page = await self.search(query, page=page_number, per_page=per_page)
            if expected_total is None:
                expected_total = page.total_items
            elif page.total_items != expected_total:
                # NOTE: the walk stops without raising, so the caller gets a
                # partial result; the data changed under it and a new walk is needed.
                log.warning(
                    "api_cnaes_walk_total_changed",
                    page=page_number,
                    expected_total=expected_total,
                    reported_total=page.total_items,
                    yielded=len(seen),
                )
                return
            if not page.items or expected_total == 0:
                return

            new_items = 0
            for company in page.items:
                cnpj = company["cnpj"]
                if cnpj in seen:
                    continue
                seen.add(cnpj)
                new_items += 1
                yield company
                if len(seen) >= expected_total:
                    return

            if new_items == 0:
                log.warning("api_cnaes_walk_page_repeated", page=page_number, yielded=len(seen))
                return
            page_number += 1

    async def health(self) -> bool:
        """Return True when ``GET /health`` returns 2xx.

        One attempt, outside the breaker and the retries, so the probe reports
        the current state of the API.
        """
        try:
            response = await self._http.get("/health")
        except httpx.HTTPError as error:
            log.warning("api_cnaes_health_failed", error=repr(error))
            return False
        return response.is_success

    # Calls, retries and the breaker --------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        not_found_ok: bool = False,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request with retries, through the circuit breaker."""
        if not self.breaker.allow():
            raise CompanySourceError(
                SourceErrorKind.UNAVAILABLE,
                None,
                "circuit_open",
                f"api-cnaes calls are paused for {self.breaker.seconds_until_retry():.1f} s "
                "after consecutive failures",
            )

        try:
            response = await self._send_with_retries(
                method, path, not_found_ok=not_found_ok, params=params, json=json
            )
        except CompanySourceError as error:
            if error.kind is SourceErrorKind.CLIENT_ERROR:
                # The API responded, so it is up, and a rejected request is not an outage.
                self.breaker.record_success()
            else:
                self.breaker.record_failure()
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.record_success()
        return response

    async def _send_with_retries(
        self,
        method: str,
        path: str,
        *,
        not_found_ok: bool,
        params: Mapping[str, str | int] | None,
        json: Any,
    ) -> httpx.Response:
        attempts = self._config.max_retries + 1
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = await self._http.request(method, path, params=params, json=json)
            except httpx.TimeoutException as error:
                failure = CompanySourceError(
                    SourceErrorKind.TIMEOUT,
                    None,
                    "timeout",
                    f"{method} {path} timed out: {error!r}",
                )
            except httpx.TransportError as error:
                failure = CompanySourceError(
                    SourceErrorKind.UNAVAILABLE,
                    None,
                    "connection_failed",
                    f"{method} {path} failed before a response: {error!r}",
                )
            else:
                if response.is_success or (not_found_ok and response.status_code == 404):
                    return response
                failure = _parse_error(response)
                if not _is_retryable(response.status_code):
                    raise failure
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._now())

            if attempt == attempts - 1:
                raise failure
            if retry_after is not None and retry_after > self._config.max_retry_after_seconds:
                log.warning(
                    "api_cnaes_retry_after_too_long",
                    path=path,
                    retry_after_seconds=retry_after,
                    max_seconds=self._config.max_retry_after_seconds,
                )
                raise failure

            delay = backoff_delay(
                attempt,
                base_seconds=self._config.backoff_base_seconds,
                max_seconds=self._config.backoff_max_seconds,
                uniform=self._uniform,
            )
            if retry_after is not None:
                delay = max(delay, retry_after)
            log.warning(
                "api_cnaes_retrying",
                method=method,
                path=path,
                attempt=attempt + 1,
                max_retries=self._config.max_retries,
                delay_seconds=round(delay, 3),
                status=failure.status,
                code=failure.code,
            )
            await self._sleep(delay)

        raise AssertionError("unreachable: the last attempt returns or raises")


# Wire format parsing -----------------------------------------------------


def _invalid_response(response: httpx.Response, reason: str) -> CompanySourceError:
    return CompanySourceError(
        SourceErrorKind.SERVER_ERROR,
        response.status_code,
        "invalid_response",
        f"{response.request.method} {response.request.url.path} returned {reason}",
    )


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _invalid_response(response, "a body that is not JSON") from None


def _check_company(response: httpx.Response, company: Any) -> Company:
    if not isinstance(company, dict):
        raise _invalid_response(response, "a company that is not an object")
    cnpj = company.get("cnpj")
    # A numeric CNPJ has lost its leading zeros, so it cannot be trusted.
    if not isinstance(cnpj, str) or len(cnpj) != 14:
        raise _invalid_response(response, f"a company with an invalid cnpj: {cnpj!r}")
    return company


def _parse_company(response: httpx.Response) -> Company:
    return _check_company(response, _json_body(response))


def _parse_page(response: httpx.Response) -> SourcePage:
    body = _json_body(response)
    if not isinstance(body, dict):
        raise _invalid_response(response, "a page that is not an object")
    data = body.get("data")
    meta = body.get("meta")
    if not isinstance(data, list) or not isinstance(meta, dict):
        raise _invalid_response(response, "a page without a data list and a meta object")

    numbers = {}
    for field in ("page", "per_page", "total_items"):
        value = meta.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _invalid_response(response, f"a page whose meta.{field} is {value!r}")
        numbers[field] = value

    items = [_check_company(response, company) for company in data]
    return SourcePage(
        items=items,
        page=numbers["page"],
        per_page=numbers["per_page"],
        total_items=numbers["total_items"],
    )


def _is_retryable(status: int) -> bool:
    """Tell whether another attempt may succeed: rate limiting and server-side failures."""
    return status == 429 or status >= 500


def _error_kind(status: int) -> SourceErrorKind:
    if status == 429:
        return SourceErrorKind.RATE_LIMITED
    if status >= 500:
        return SourceErrorKind.SERVER_ERROR
    return SourceErrorKind.CLIENT_ERROR


def _parse_error(response: httpx.Response) -> CompanySourceError:
    """Build the typed error from an error response, with fallbacks for a body in another format."""
    status = response.status_code
    code = f"http_{status}"
    message = response.reason_phrase or f"HTTP {status}"
    try:
        body = response.json()
    except ValueError:
        body = None
        text = response.text.strip()
        if text:
            message = text[:_MAX_MESSAGE_CHARS]

    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        if isinstance(error.get("code"), str) and error["code"]:
            code = error["code"]
        if isinstance(error.get("message"), str) and error["message"]:
            message = error["message"]
    return CompanySourceError(_error_kind(status), status, code, message)
