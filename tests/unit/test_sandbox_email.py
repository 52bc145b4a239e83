"""The sandbox e-mail sender: one JSON line per message, kept in memory, logged without the body."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import structlog

from adapters.sandbox.email import SandboxEmailSender, mask_address
from application.ports import EmailMessage


def message(
    to: str, text: str = "Seu código: abc123", purpose: str = "password_reset"
) -> EmailMessage:
    return EmailMessage(to=to, subject="Redefinição de senha", text=text, purpose=purpose)


async def test_message_written_as_json_line(tmp_path: Path) -> None:
    outbox = tmp_path / "sandbox" / "outbox.jsonl"
    sender = SandboxEmailSender(outbox)

    await sender.send(message("ana@exemplo.com.br", text="Olá, Ana.\nCódigo: ção-123"))
    await sender.send(message("bia@exemplo.com.br", purpose="invitation"))

    lines = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    assert [line["to"] for line in lines] == ["ana@exemplo.com.br", "bia@exemplo.com.br"]
    assert lines[0]["text"] == "Olá, Ana.\nCódigo: ção-123"
    assert lines[1]["purpose"] == "invitation"
    assert lines[0]["subject"] == "Redefinição de senha"
    assert "sent_at" in lines[0]
    # The messages carry single-use codes: only the owner may read the file.
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600


async def test_messages_kept_in_memory(tmp_path: Path) -> None:
    sender = SandboxEmailSender(tmp_path / "outbox.jsonl")

    await sender.send(message("ana@exemplo.com.br"))
    await sender.send(message("ana@exemplo.com.br", purpose="invitation"))
    await sender.send(message("bia@exemplo.com.br"))

    assert len(sender.messages) == 3
    assert [m.purpose for m in sender.sent_to("ana@exemplo.com.br")] == [
        "password_reset",
        "invitation",
    ]
    assert len(sender.sent_to("ana@exemplo.com.br", purpose="invitation")) == 1


async def test_concurrent_sends_keep_lines_whole(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    sender = SandboxEmailSender(outbox)

    await asyncio.gather(
        *(sender.send(message(f"p{n}@exemplo.com.br", text="x" * 5000)) for n in range(20))
    )

    lines = outbox.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 20
    assert {json.loads(line)["to"] for line in lines} == {f"p{n}@exemplo.com.br" for n in range(20)}


async def test_log_line_has_no_body_nor_address(tmp_path: Path) -> None:
    sender = SandboxEmailSender(tmp_path / "outbox.jsonl")

    with structlog.testing.capture_logs() as logs:
        await sender.send(message("ana@exemplo.com.br", text="código secreto xyz"))

    assert len(logs) == 1
    entry = logs[0]
    assert entry["event"] == "email_sandboxed"
    assert entry["to"] == "a***@exemplo.com.br"
    assert entry["purpose"] == "password_reset"
    assert "código secreto xyz" not in repr(entry)
    assert "ana@exemplo.com.br" not in repr(entry)


def test_mask_address() -> None:
    assert mask_address("ana@exemplo.com.br") == "a***@exemplo.com.br"
    assert mask_address("sem-arroba") == "***"
