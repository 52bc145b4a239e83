"""``garimpo admin create-host-admin``: creates a host admin or resets its password, never from argv."""

from __future__ import annotations

import asyncio
import getpass
import io
import uuid

import asyncpg
import pytest

from adapters.security.passwords import Argon2Passwords
from entrypoints import cli
from entrypoints.settings import Settings
from tests.support.identity import owner_execute

PASSWORD = "senha do operador 1"


@pytest.fixture
def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the command at the test database and Redis; return the database URL."""
    assert settings.database_url and settings.redis_url
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("GARIMPO_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("LOG_FORMAT", "json")
    # configure_logging gives structlog a new processor list and turns on its
    # logger cache. Run once per test here, it would leave loggers cached on
    # an old list, which the capture_logs of later tests in this process
    # cannot see. The command's output does not depend on it.
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)
    return settings.database_url


def new_email() -> str:
    return f"operador-{uuid.uuid4().hex[:8]}@garimpo.com.br"


def run(monkeypatch: pytest.MonkeyPatch, email: str, stdin: str, *extra: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main(["admin", "create-host-admin", "--email", email, "--name", "Operação", *extra])


async def account(database: str, email: str) -> asyncpg.Record:
    conn = await asyncpg.connect(database)
    try:
        row = await conn.fetchrow("SELECT * FROM account WHERE email = $1", email)
    finally:
        await conn.close()
    assert row is not None
    return row


def test_creates_host_admin_from_stdin(
    environment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    email = new_email()

    status = run(monkeypatch, email.upper(), f"{PASSWORD}\n", "--password-stdin")

    output = capsys.readouterr().out
    assert status == 0, output
    assert f"Administrador do host criado: {email}" in output
    row = asyncio.run(account(environment, email))
    assert row["role"] == "host_admin"
    assert row["status"] == "active"
    assert row["tenant_id"] is None
    assert Argon2Passwords().verify(row["password_hash"], PASSWORD)
    created = asyncio.run(
        owner_execute(
            environment,
            "SELECT count(*) FROM audit_event WHERE action = 'host_admin.created' AND target_id = $1",
            str(row["id"]),
        )
    )
    assert created == 1


def test_second_run_resets_password_and_ends_sessions(
    environment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    email = new_email()
    assert run(monkeypatch, email, f"{PASSWORD}\n", "--password-stdin") == 0
    row = asyncio.run(account(environment, email))
    asyncio.run(
        owner_execute(
            environment,
            "INSERT INTO auth_session (id, account_id, expires_at) "
            "VALUES ($1, $2, now() + interval '1 day')",
            uuid.uuid4(),
            row["id"],
        )
    )
    capsys.readouterr()

    status = run(monkeypatch, email, "outra senha bem longa\n", "--password-stdin")

    output = capsys.readouterr().out
    assert status == 0, output
    assert "trocada" in output
    updated = asyncio.run(account(environment, email))
    assert updated["id"] == row["id"]
    assert Argon2Passwords().verify(updated["password_hash"], "outra senha bem longa")
    open_sessions = asyncio.run(
        owner_execute(
            environment,
            "SELECT count(*) FROM auth_session WHERE account_id = $1 AND revoked_at IS NULL",
            row["id"],
        )
    )
    assert open_sessions == 0


def test_asks_twice_without_stdin_flag(
    environment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    email = new_email()
    answers = iter([PASSWORD, PASSWORD])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)

    status = run(monkeypatch, email, "")

    assert status == 0, capsys.readouterr()
    assert prompts == ["Senha do administrador: ", "Repita a senha: "]
    row = asyncio.run(account(environment, email))
    assert Argon2Passwords().verify(row["password_hash"], PASSWORD)


def test_different_entries_change_nothing(
    environment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    email = new_email()
    answers = iter([PASSWORD, "outra coisa qualquer"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))

    status = run(monkeypatch, email, "")

    assert status == 2
    assert "as duas senhas digitadas são diferentes" in capsys.readouterr().err
    found = asyncio.run(
        owner_execute(environment, "SELECT count(*) FROM account WHERE email = $1", email)
    )
    assert found == 0


def test_rejects_weak_password_and_tenant_email(
    environment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    weak = run(monkeypatch, new_email(), "curta\n", "--password-stdin")
    weak_error = capsys.readouterr().err

    tenant_email = new_email()
    tenant_id = uuid.uuid4()
    asyncio.run(
        owner_execute(environment, "INSERT INTO tenant (id, name) VALUES ($1, 'Loja')", tenant_id)
    )
    asyncio.run(
        owner_execute(
            environment,
            "INSERT INTO account (id, tenant_id, email, name, role, status) "
            "VALUES ($1, $2, $3, 'Vendedor', 'sales', 'active')",
            uuid.uuid4(),
            tenant_id,
            tenant_email,
        )
    )
    taken = run(monkeypatch, tenant_email, f"{PASSWORD}\n", "--password-stdin")
    taken_error = capsys.readouterr().err

    assert weak == 1
    assert "ao menos 10 caracteres" in weak_error
    assert taken == 1
    assert "já é de um usuário de tenant" in taken_error


def test_password_is_never_an_argument(
    environment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        run(monkeypatch, new_email(), "", "--password", PASSWORD)

    assert refused.value.code == 2
    assert "unrecognized arguments: --password" in capsys.readouterr().err


def test_empty_stdin_is_refused(
    environment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run(monkeypatch, new_email(), "", "--password-stdin")

    assert status == 2
    assert "nenhuma senha na entrada padrão" in capsys.readouterr().err
