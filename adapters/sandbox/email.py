"""The sandbox e-mail sender, the embedded default: messages are recorded, never delivered.

Each message becomes one JSON line in an outbox file (``<var_dir>/sandbox/outbox.jsonl``)
that an operator can read to pick up a reset or invitation code, and stays in
memory for the process's tests. Messages carry single-use codes, so the file
is created readable by its owner only.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import os
import threading
from pathlib import Path

import structlog

from application.ports import EmailMessage

log = structlog.get_logger(__name__)

#: Messages kept in memory; the outbox file keeps every one.
MEMORY_LIMIT = 1000


def mask_address(address: str) -> str:
    """``a***@example.com``: enough to tell messages apart in logs without the address itself."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


class SandboxEmailSender:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self._messages: collections.deque[EmailMessage] = collections.deque(maxlen=MEMORY_LIMIT)
        # One append at a time, so concurrent sends never interleave lines.
        self._write_lock = threading.Lock()

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages sent by this process, oldest first (at most MEMORY_LIMIT)."""
        return list(self._messages)

    def sent_to(self, address: str, *, purpose: str | None = None) -> list[EmailMessage]:
        """Return the messages to ``address`` (and of ``purpose``, when given), oldest first."""
        return [
            message
            for message in self._messages
            if message.to == address and (purpose is None or message.purpose == purpose)
        ]

    async def send(self, message: EmailMessage) -> None:
        record = {
            "sent_at": dt.datetime.now(dt.UTC).isoformat(),
            "to": message.to,
            "subject": message.subject,
            "purpose": message.purpose,
            "text": message.text,
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        await asyncio.to_thread(self._append, line)
        self._messages.append(message)
        log.info(
            "email_sandboxed",
            to=mask_address(message.to),
            subject=message.subject,
            purpose=message.purpose,
            outbox=str(self.outbox),
        )

    def _append(self, line: str) -> None:
        with self._write_lock:
            self.outbox.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.outbox, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line)
