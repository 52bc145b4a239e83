"""Stream a CSV export row chunk by row chunk, from an async iterator of records.

The first record is read before the headers go out, so a failure to start
the export still becomes a problem response. After that, a failure can only
cut the connection: the client then sees an incomplete download instead of a
file that looks whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterable
from typing import Any, Protocol

import structlog
from aiohttp import web

from adapters.export.ledger_csv import CONTENT_TYPE
from entrypoints.http.middleware import REQUEST_ID_HEADER, REQUEST_ID_KEY, RESPONSE_HEADERS_KEY

log = structlog.get_logger(__name__)

ROWS_PER_CHUNK = 500


class CsvWriter(Protocol):
    def header(self) -> bytes: ...

    def rows(self, records: Iterable[Any]) -> bytes: ...


async def stream_csv(
    request: web.Request,
    records: AsyncGenerator[Any, None],
    writer: CsvWriter,
    *,
    filename: str,
    log_event: str,
    **log_fields: Any,
) -> web.StreamResponse:
    """Send ``records`` through ``writer`` as an attachment named ``filename``."""
    headers = {
        **request.get(RESPONSE_HEADERS_KEY, {}),
        REQUEST_ID_HEADER: request[REQUEST_ID_KEY],
        "Content-Type": CONTENT_TYPE,
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }

    async with contextlib.aclosing(records) as rows:
        first = await anext(rows, None)

        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        try:
            await response.write(writer.header())
            batch = [] if first is None else [first]
            async for record in rows:
                batch.append(record)
                if len(batch) >= ROWS_PER_CHUNK:
                    await response.write(writer.rows(batch))
                    batch = []
            if batch:
                await response.write(writer.rows(batch))
            await response.write_eof()
        except ConnectionResetError:
            # The client went away; the export's transaction ends with the block.
            log.info(f"{log_event}_aborted_by_client", **log_fields)
        except Exception:
            log.exception(f"{log_event}_failed", **log_fields)
            if request.transport is not None:
                request.transport.abort()
    return response
