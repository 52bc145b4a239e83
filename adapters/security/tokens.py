"""Access tokens as JWTs signed with HS256 (PyJWT).

The algorithm is pinned on decode, so a token that names ``none`` or an
asymmetric algorithm is refused whatever its header says. Issuer and
audience are checked, which stops a token minted for another service with
the same secret.
"""

from __future__ import annotations

import datetime as dt
import uuid

import jwt

from application.authentication import AccessClaims
from domain.errors import AuthenticationFailed
from domain.identity import Role

ISSUER = "garimpo"
AUDIENCE = "garimpo-api"
ALGORITHM = "HS256"
#: Seconds of clock difference between servers that a token's times tolerate.
LEEWAY_SECONDS = 5
#: Verified tokens kept in memory. A client sends the same token for its
#: whole lifetime, and checking the signature and claims again costs about a
#: quarter of a millisecond per request here.
VERIFIED_CACHE_SIZE = 10_000


class JwtAccessTokens:
    def __init__(self, secret: str, lifetime: dt.timedelta) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("the JWT secret must have at least 32 bytes")
        self._secret = secret
        self.lifetime = lifetime
        # Insertion-ordered, so the oldest entry is the first to go when full.
        self._verified: dict[str, AccessClaims] = {}

    def issue(self, claims: AccessClaims) -> str:
        # iat is now, not expires_at minus the lifetime: a caller may ask for a
        # shorter or longer token than the default, and a future iat is refused.
        issued_at = min(dt.datetime.now(dt.UTC), claims.expires_at)
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": claims.account_id,
            "tid": claims.tenant_id,
            "role": claims.role.value,
            "sid": claims.session_id,
            "email": claims.email,
            "iat": int(issued_at.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> AccessClaims:
        # The exact string was verified before, so only its expiry can have
        # changed; an expired one takes the full path and gets token_expired.
        known = self._verified.get(token)
        leeway = dt.timedelta(seconds=LEEWAY_SECONDS)
        if known is not None and known.expires_at + leeway > dt.datetime.now(dt.UTC):
            return known

        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "sid", "role", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed(
                "O token de acesso expirou. Renove a sessão em POST /v1/auth/refresh.",
                code="token_expired",
            ) from None
        except jwt.InvalidTokenError:
            raise AuthenticationFailed(
                "O token de acesso é inválido. Entre novamente com e-mail e senha.",
                code="invalid_token",
            ) from None

        try:
            role = Role(payload["role"])
            tenant_id = payload.get("tid")
            return AccessClaims(
                account_id=str(uuid.UUID(payload["sub"])),
                tenant_id=str(uuid.UUID(tenant_id)) if tenant_id else None,
                role=role,
                session_id=str(uuid.UUID(payload["sid"])),
                email=str(payload.get("email", "")),
                expires_at=dt.datetime.fromtimestamp(payload["exp"], dt.UTC),
            )
        except (ValueError, TypeError, KeyError):
            raise AuthenticationFailed(
                "O token de acesso é inválido. Entre novamente com e-mail e senha.",
                code="invalid_token",
            ) from None
