"""API keys against the real database: resolve, reject, and reissue for the demo tenant."""

from __future__ import annotations

from adapters.postgres.api_keys import PostgresApiKeys
from entrypoints.container import Container, provide


async def test_key_resolves_to_its_tenant(container: Container) -> None:
    keys: PostgresApiKeys = await provide(container.api_keys)
    tenant_id, key = await keys.create_tenant_with_key("Resolve Ltda")

    assert await keys.resolve(key) == tenant_id


async def test_tampered_key_rejected(container: Container) -> None:
    keys: PostgresApiKeys = await provide(container.api_keys)
    _tenant_id, key = await keys.create_tenant_with_key("Tamper Ltda")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")

    assert await keys.resolve(tampered) is None


async def test_malformed_keys_rejected(container: Container) -> None:
    keys: PostgresApiKeys = await provide(container.api_keys)

    for malformed in ("", "gar_", "gar_x_y_z", "other_abcd_secret", "no-separators"):
        assert await keys.resolve(malformed) is None, malformed


async def test_reissue_revokes_previous_key(container: Container) -> None:
    keys: PostgresApiKeys = await provide(container.api_keys)
    first_tenant, first_key = await keys.reissue_named_tenant_key("Demo Reissue")
    second_tenant, second_key = await keys.reissue_named_tenant_key("Demo Reissue")

    assert second_tenant == first_tenant
    assert await keys.resolve(first_key) is None
    assert await keys.resolve(second_key) == second_tenant
