"""Credit routes: the tenant's balance, statement and usage, and the host's credit operations.

Statements are JSON pages, or the whole filtered statement as a CSV file
(``Accept: text/csv`` or ``?format=csv``), streamed from a server-side cursor.
After a host operation that may have queued a low-balance alert, the alert is
dispatched in the background at once instead of at the next maintenance round.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from typing import Any

import structlog
from aiohttp import web

from adapters.export.ledger_csv import LedgerCsv, export_filename
from application.credit_reports import CreditOverviewQuery, LedgerView, Period
from application.credits import Credits
from domain.credits import EntryKind, EntryNotFound, LedgerEntry
from entrypoints.http.auth import actor_of, tenant_of
from entrypoints.http.context import (
    SERVICES_KEY,
    invalid_field,
    json_ok,
    json_page,
    page_from_query,
    parse_aware_datetime,
    path_uuid,
    read_json_object,
    reject_unknown_keys,
    use_case,
    wants_csv,
)
from entrypoints.http.csv_stream import stream_csv

log = structlog.get_logger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_IDEMPOTENCY_KEY_LENGTH = 200
#: Seconds the app waits at shutdown for alert dispatches still running.
DISPATCH_SHUTDOWN_SECONDS = 10.0

DISPATCH_TASKS_KEY = web.AppKey("credit_dispatch_tasks", set)

_GRANT_FIELDS = frozenset({"amount", "reason", "expires_at"})
_ADJUSTMENT_FIELDS = frozenset({"amount", "reason"})
_REVERSAL_FIELDS = frozenset({"reason"})


def register_routes(app: web.Application) -> None:
    app[DISPATCH_TASKS_KEY] = set()
    app.on_shutdown.append(_finish_dispatches)

    app.router.add_get("/v1/billing/balance", handle_balance, allow_head=False)
    app.router.add_get("/v1/billing/coverage", handle_coverage, allow_head=False)
    app.router.add_get("/v1/billing/ledger", handle_ledger, allow_head=False)
    app.router.add_get("/v1/billing/usage", handle_usage, allow_head=False)

    app.router.add_get("/v1/host/credits", handle_host_overview, allow_head=False)
    tenant = "/v1/host/tenants/{tenant_id}/credits"
    app.router.add_get(tenant, handle_host_tenant_credits, allow_head=False)
    app.router.add_get(tenant + "/ledger", handle_host_ledger, allow_head=False)
    app.router.add_post(tenant + "/grants", handle_host_grant)
    app.router.add_post(tenant + "/adjustments", handle_host_adjustment)
    app.router.add_post(tenant + "/entries/{entry_id}/reversal", handle_host_reversal)


# --- reading queries and bodies ---------------------------------------------------------


def _date_or_instant(request: web.Request, name: str) -> dt.date | dt.datetime | None:
    """Read a date (AAAA-MM-DD, a day in the tenant's timezone) or an instant with its offset."""
    raw = request.query.get(name)
    if not raw:
        return None
    if len(raw) == 10:
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(raw)
    # A "+" that was not percent-encoded arrives as a space.
    for candidate in (raw, raw.replace(" ", "+")):
        with contextlib.suppress(ValueError):
            instant = dt.datetime.fromisoformat(candidate)
            if instant.tzinfo is not None:
                return instant
    raise invalid_field(
        name,
        f"O parâmetro '{name}' deve ser uma data AAAA-MM-DD (um dia no fuso do tenant) ou "
        "data e hora ISO 8601 com fuso, como 2027-01-31T23:59:00-03:00.",
    )


def _period(request: web.Request) -> Period:
    return Period(
        since=_date_or_instant(request, "since"), until=_date_or_instant(request, "until")
    )


def _kinds(request: web.Request) -> frozenset[EntryKind]:
    """Read ``kind``, repeated (``kind=grant&kind=capture``) or as a comma list."""
    values = [
        part.strip()
        for raw in request.query.getall("kind", [])
        for part in raw.split(",")
        if part.strip()
    ]
    kinds = set()
    for value in values:
        try:
            kinds.add(EntryKind(value))
        except ValueError:
            accepted = ", ".join(kind.value for kind in EntryKind)
            raise invalid_field(
                "kind", f"Tipo de lançamento desconhecido: '{value}'. Tipos aceitos: {accepted}."
            ) from None
    return frozenset(kinds)


def _query_bool(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in {"true", "false"}:
        raise invalid_field(name, f"O parâmetro '{name}' é true ou false.")
    return raw == "true"


def _expires_at(body: dict[str, Any]) -> dt.datetime | None:
    value = body.get("expires_at")
    if value is None:
        return None
    return parse_aware_datetime(value, "expires_at", example="2027-12-31T23:59:59-03:00")


def _idempotency_key(request: web.Request) -> str | None:
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if (
        not key
        or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH
        or not key.isprintable()
        or not key.isascii()
    ):
        raise invalid_field(
            IDEMPOTENCY_HEADER,
            f"O cabeçalho {IDEMPOTENCY_HEADER} deve ter de 1 a {MAX_IDEMPOTENCY_KEY_LENGTH} "
            "caracteres ASCII visíveis, como um UUID.",
        )
    return key


def _entry_json(entry: LedgerEntry) -> dict[str, Any]:
    return {**entry.to_json(), "kind_label": entry.kind.label}


def _entry_id(request: web.Request) -> str:
    try:
        return str(uuid.UUID(request.match_info["entry_id"]))
    except ValueError:
        raise EntryNotFound() from None


# --- statements, JSON or CSV --------------------------------------------------------------


async def _statement(
    request: web.Request, tenant_id: str, view: LedgerView, *, as_csv: bool
) -> web.StreamResponse:
    credits = await use_case(request, "credits")
    if not as_csv:
        page = await credits.ledger(tenant_id, view.filters, page_from_query(request))
        return json_page(page, _entry_json)
    return await _stream_csv(request, credits, tenant_id, view)


async def _stream_csv(
    request: web.Request, credits: Credits, tenant_id: str, view: LedgerView
) -> web.StreamResponse:
    return await stream_csv(
        request,
        credits.export(tenant_id, view.filters),
        LedgerCsv(view.timezone),
        filename=export_filename(view.first_day, view.last_day),
        log_event="credit_export",
        tenant_id=tenant_id,
    )


# --- tenant routes ------------------------------------------------------------------------


async def handle_balance(request: web.Request) -> web.Response:
    reports = await use_case(request, "credit_reports")
    return json_ok((await reports.balance(tenant_of(request))).to_json())


async def handle_coverage(request: web.Request) -> web.Response:
    raw = request.query.get("preleads", "")
    if not raw.isdigit() or int(raw) < 1:
        raise invalid_field(
            "preleads",
            "Informe em 'preleads' quantos pré-leads a qualificação teria, de 1 em diante.",
        )
    credits: Credits = await use_case(request, "credits")
    coverage = await credits.coverage(tenant_of(request), int(raw))
    return json_ok(coverage.to_json())


async def handle_ledger(request: web.Request) -> web.StreamResponse:
    tenant_id = tenant_of(request)
    as_csv = wants_csv(request)
    reports = await use_case(request, "credit_reports")
    view = await reports.ledger_view(tenant_id, _period(request), _kinds(request))
    return await _statement(request, tenant_id, view, as_csv=as_csv)


async def handle_usage(request: web.Request) -> web.Response:
    reports = await use_case(request, "credit_reports")
    usage = await reports.usage(tenant_of(request), _period(request))
    return json_ok(usage.to_json())


# --- host routes --------------------------------------------------------------------------


async def handle_host_overview(request: web.Request) -> web.Response:
    query = CreditOverviewQuery(below_threshold=_query_bool(request, "below_threshold"))
    reports = await use_case(request, "credit_reports")
    page = await reports.host_overview(query, page_from_query(request))
    return json_page(page, lambda item: item.to_json())


async def handle_host_tenant_credits(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    reports = await use_case(request, "credit_reports")
    credits, usage = await reports.host_tenant(tenant_id, _period(request))
    return json_ok({**credits.to_json(), "usage": usage.to_json()})


async def handle_host_ledger(request: web.Request) -> web.StreamResponse:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    as_csv = wants_csv(request)
    reports = await use_case(request, "credit_reports")
    view = await reports.host_ledger_view(tenant_id, _period(request), _kinds(request))
    return await _statement(request, tenant_id, view, as_csv=as_csv)


async def handle_host_grant(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    key = _idempotency_key(request)
    body = await read_json_object(request)
    reject_unknown_keys(body, _GRANT_FIELDS)

    host_credits = await use_case(request, "host_credits")
    outcome = await host_credits.grant(
        actor_of(request),
        tenant_id,
        body.get("amount"),
        reason=body.get("reason"),
        expires_at=_expires_at(body),
        idempotency_key=key,
    )
    if not outcome.created:
        return json_ok(_entry_json(outcome.entry), headers={REPLAYED_HEADER: "true"})
    _dispatch_soon(request, tenant_id)
    return json_ok(_entry_json(outcome.entry), status=201)


async def handle_host_adjustment(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    body = await read_json_object(request)
    reject_unknown_keys(body, _ADJUSTMENT_FIELDS)

    host_credits = await use_case(request, "host_credits")
    entry = await host_credits.adjust(
        actor_of(request), tenant_id, body.get("amount"), reason=body.get("reason")
    )
    _dispatch_soon(request, tenant_id)
    return json_ok(_entry_json(entry), status=201)


async def handle_host_reversal(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id", what="Tenant")
    entry_id = _entry_id(request)
    body = await read_json_object(request)
    reject_unknown_keys(body, _REVERSAL_FIELDS)

    host_credits = await use_case(request, "host_credits")
    entry = await host_credits.reverse(
        actor_of(request), tenant_id, entry_id, reason=body.get("reason")
    )
    _dispatch_soon(request, tenant_id)
    return json_ok(_entry_json(entry), status=201)


# --- alerts right after a host operation ---------------------------------------------------


def _dispatch_soon(request: web.Request, tenant_id: str) -> None:
    """Send the tenant's due alerts and webhooks in the background, without delaying the response."""
    tasks: set[asyncio.Task[None]] = request.app[DISPATCH_TASKS_KEY]
    task = asyncio.create_task(_dispatch(request.app, tenant_id), name=f"dispatch:{tenant_id}")
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _dispatch(app: web.Application, tenant_id: str) -> None:
    use_cases = app[SERVICES_KEY].use_cases
    try:
        dispatcher = await use_cases.get("notification_dispatcher")
        await dispatcher.dispatch_due(tenant_id=tenant_id)
        deliveries = await use_cases.get("webhook_deliveries")
        await deliveries.deliver_due(tenant_id=tenant_id)
    # The maintenance round sends whatever is left, so a failure here is
    # logged and nothing more.
    except Exception:
        log.exception("credit_dispatch_failed", tenant_id=tenant_id)


async def _finish_dispatches(app: web.Application) -> None:
    tasks = list(app[DISPATCH_TASKS_KEY])
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=DISPATCH_SHUTDOWN_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
