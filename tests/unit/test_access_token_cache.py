"""The cache of verified access tokens never outlives a token nor accepts a changed one."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from adapters.security import tokens as tokens_module
from adapters.security.tokens import JwtAccessTokens
from application.authentication import AccessClaims
from domain.errors import AuthenticationFailed
from domain.identity import Role


def claims(expires_in: dt.timedelta) -> AccessClaims:
    return AccessClaims(
        account_id=str(uuid.uuid4()),
        tenant_id=str(uuid.uuid4()),
        role=Role.SALES,
        session_id=str(uuid.uuid4()),
        email="vendas@exemplo.com.br",
        expires_at=dt.datetime.now(dt.UTC).replace(microsecond=0) + expires_in,
    )


def test_repeated_token_gives_same_claims() -> None:
    codec = JwtAccessTokens("s" * 40, dt.timedelta(minutes=15))
    issued = claims(dt.timedelta(minutes=10))
    token = codec.issue(issued)

    assert codec.decode(token) == issued
    assert codec.decode(token) == issued


def test_changed_token_is_not_served_from_cache() -> None:
    codec = JwtAccessTokens("s" * 40, dt.timedelta(minutes=15))
    token = codec.issue(claims(dt.timedelta(minutes=10)))
    codec.decode(token)

    header, payload, signature = token.split(".")
    tampered = ".".join(
        [header, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")]
    )

    with pytest.raises(AuthenticationFailed) as refused:
        codec.decode(tampered)
    assert refused.value.code == "invalid_token"


def test_cached_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = JwtAccessTokens("s" * 40, dt.timedelta(minutes=15))
    token = codec.issue(claims(dt.timedelta(seconds=1)))
    codec.decode(token)

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:
            return later

    monkeypatch.setattr(tokens_module.dt, "datetime", Later)
    monkeypatch.setattr("jwt.api_jwt.datetime", Later, raising=False)

    with pytest.raises(AuthenticationFailed) as refused:
        codec.decode(token)
    assert refused.value.code == "token_expired"


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "VERIFIED_CACHE_SIZE", 3)
    codec = JwtAccessTokens("s" * 40, dt.timedelta(minutes=15))

    for _ in range(5):
        codec.decode(codec.issue(claims(dt.timedelta(minutes=10))))

    assert len(codec._verified) == 3
