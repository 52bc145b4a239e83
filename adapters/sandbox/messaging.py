"""The sandbox messaging gateway, the embedded default: sends are recorded, never delivered.

Every send becomes one JSON line in ``<var_dir>/sandbox/messages.jsonl``,
which an operator reads to see what qualification would have sent. The file
is also the idempotency record. Before each send the gateway takes an
exclusive lock on it (``flock``), reads the lines other processes appended
since its last look, and answers a known key with the first receipt. So an
API process and several workers share it without sending a key twice, and
a restarted worker remembers what went out before.

The file holds phone numbers, addresses and message bodies, so it is created
readable by its owner only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

import structlog

from application.messaging import OutboundMessage, SendError, SendReceipt
from domain.qualification import Channel, SendFailure

log = structlog.get_logger(__name__)

PROVIDER = "sandbox"


class SandboxMessaging:
    """Records sends in a JSON-lines file; WhatsApp to ``not_on_whatsapp`` numbers fails."""

    def __init__(self, outbox: Path, *, not_on_whatsapp: Collection[str] = ()) -> None:
        self.outbox = outbox
        self._not_on_whatsapp = frozenset(not_on_whatsapp)
        self._receipts: dict[str, dict[str, Any]] = {}
        self._offset = 0
        # flock locks between processes; this lock keeps threads of one
        # process from reading the file at the same offset twice.
        self._thread_lock = threading.Lock()

    @property
    def provider(self) -> str:
        return PROVIDER

    def channels(self) -> frozenset[Channel]:
        return frozenset(Channel)

    async def send(self, message: OutboundMessage) -> SendReceipt:
        if message.channel is Channel.WHATSAPP and message.to in self._not_on_whatsapp:
            raise SendError(
                SendFailure.NOT_ON_CHANNEL,
                "not_on_whatsapp",
                "the sandbox treats this number as having no WhatsApp",
            )
        receipt = await asyncio.to_thread(self._record, message)
        if not receipt.replayed:
            log.info(
                "message_sandboxed",
                channel=message.channel.value,
                tenant_id=message.tenant_id,
                provider_message_id=receipt.provider_message_id,
            )
        return receipt

    def sent(self) -> list[dict[str, Any]]:
        """Return every recorded send, from every process, oldest first."""
        with self._thread_lock, self._locked_file() as handle:
            self._catch_up(handle)
            return sorted(self._receipts.values(), key=lambda record: record["sent_at"])

    def _record(self, message: OutboundMessage) -> SendReceipt:
        with self._thread_lock, self._locked_file() as handle:
            self._catch_up(handle)
            known = self._receipts.get(message.idempotency_key)
            if known is not None:
                return SendReceipt(PROVIDER, known["provider_message_id"], replayed=True)

            record = {
                "provider_message_id": f"SBX{uuid.uuid4().hex}",
                "idempotency_key": message.idempotency_key,
                "sent_at": dt.datetime.now(dt.UTC).isoformat(),
                "tenant_id": message.tenant_id,
                "channel": message.channel.value,
                "to": message.to,
                "sender": message.sender,
                "template": message.template,
                "variables": dict(message.variables),
                "subject": message.subject,
                "body": message.body,
            }
            # A line cut by a crash mid-write is dropped, so the new line
            # starts clean instead of continuing it.
            handle.truncate(self._offset)
            handle.seek(self._offset)
            handle.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
            handle.flush()
            self._offset = handle.tell()
            self._receipts[message.idempotency_key] = record
            return SendReceipt(PROVIDER, record["provider_message_id"])

    def _catch_up(self, handle: Any) -> None:
        """Read the lines appended since the last look, by this process or another."""
        handle.seek(self._offset)
        while line := handle.readline():
            if not line.endswith(b"\n"):
                # A line cut by a crash mid-write: that send did not complete.
                break
            record = json.loads(line)
            self._receipts.setdefault(record["idempotency_key"], record)
            self._offset = handle.tell()

    def _locked_file(self) -> _LockedFile:
        return _LockedFile(self.outbox)


class _LockedFile:
    """The outbox opened for reading and appending, under an exclusive flock."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: Any = None

    def __enter__(self) -> Any:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        self._handle = os.fdopen(fd, "r+b")
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX)
        return self._handle

    def __exit__(self, *_exc: object) -> None:
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        finally:
            self._handle.close()
