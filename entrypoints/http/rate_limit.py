"""The rate limit middleware: one token per authenticated request, RateLimit headers on the response.

It runs after authentication, so it sees the principal and the tenant state
of every authenticated route; public routes and unmatched paths pass
untouched. The headers follow the IETF draft "RateLimit header fields for
HTTP" (draft-ietf-httpapi-ratelimit-headers-07): ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` and ``RateLimit-Policy``. A
refusal is a 429 problem with ``Retry-After``. When the limiter cannot decide
(Redis down or slow), the request passes without RateLimit headers.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from application.authentication import TenantState
from application.rate_limiting import BucketKind, RateDecision
from domain.identity import Principal
from entrypoints.http.auth import PRINCIPAL_KEY, TENANT_STATE_KEY
from entrypoints.http.middleware import RESPONSE_HEADERS_KEY
from entrypoints.http.problems import ProblemError

#: ``LimitRequests``: takes a token for the caller; None when the limiter could not decide.
LimitRequestsHandler = Callable[[Principal, TenantState | None], Awaitable[RateDecision | None]]

#: Whose limit a refusal names, after the tighter bucket.
_BUCKET_OWNER = {
    BucketKind.TENANT: "da sua empresa",
    BucketKind.API_KEY: "desta chave de API",
    BucketKind.ACCOUNT: "deste usuário",
}


def make_rate_limit_middleware(limit_requests: LimitRequestsHandler) -> Middleware:
    @web.middleware
    async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        principal = request.get(PRINCIPAL_KEY)
        if principal is None:
            return await handler(request)

        decision = await limit_requests(principal, request.get(TENANT_STATE_KEY))
        if decision is None:
            return await handler(request)

        headers = rate_limit_headers(decision)
        # The error middleware adds these to problem responses, the 429 included.
        request[RESPONSE_HEADERS_KEY] = {**request.get(RESPONSE_HEADERS_KEY, {}), **headers}
        if not decision.allowed:
            raise _refusal(decision)

        try:
            response = await handler(request)
        except web.HTTPException as http_exception:
            # Redirects go out as they are; statuses of 400 and above become
            # problems in the error middleware, which adds the headers itself.
            http_exception.headers.update(headers)
            raise
        # A streamed response has sent its headers already.
        if not response.prepared:
            response.headers.update(headers)
        return response

    return rate_limit_middleware


def rate_limit_headers(decision: RateDecision) -> dict[str, str]:
    """Return the draft-07 RateLimit fields for the tighter bucket, in whole seconds."""
    window = decision.bucket.window_seconds
    window_text = str(int(window)) if float(window).is_integer() else str(window)
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(math.ceil(decision.reset_after)),
        "RateLimit-Policy": f"{decision.limit};w={window_text}",
    }


def retry_after_seconds(decision: RateDecision) -> int:
    """Whole seconds for Retry-After, at least 1: rounding down could send the client back too early."""
    return max(1, math.ceil(decision.retry_after))


def _refusal(decision: RateDecision) -> ProblemError:
    wait = retry_after_seconds(decision)
    unit = "segundo" if wait == 1 else "segundos"
    owner = _BUCKET_OWNER[decision.bucket.kind]
    return ProblemError(
        429,
        "rate_limited",
        f"Limite de {decision.limit} requisições por minuto {owner} atingido. "
        f"Tente de novo em {wait} {unit}.",
        headers={"Retry-After": str(wait)},
        extensions={"retry_after": wait, "limit": decision.limit},
    )
