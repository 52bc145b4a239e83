"""The sandbox messaging gateway: one line per send, one send per idempotency key."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from adapters.sandbox.messaging import SandboxMessaging
from application.messaging import OutboundMessage, SendError
from domain.qualification import Channel, SendFailure


def message(
    key: str, *, channel: Channel = Channel.WHATSAPP, to: str = "+5541987654321"
) -> OutboundMessage:
    return OutboundMessage(
        tenant_id="t1",
        channel=channel,
        to=to,
        body="Olá! Podemos apresentar nossa proposta?",
        idempotency_key=key,
        template="primeiro_contato",
        variables={"empresa": "Padaria Pão Quente"},
    )


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_send_writes_one_private_line(tmp_path: Path) -> None:
    outbox = tmp_path / "sandbox" / "messages.jsonl"
    gateway = SandboxMessaging(outbox)

    receipt = await gateway.send(message("k1"))

    recorded = lines(outbox)
    assert receipt.provider == "sandbox"
    assert receipt.replayed is False
    assert [line["provider_message_id"] for line in recorded] == [receipt.provider_message_id]
    assert recorded[0]["body"] == "Olá! Podemos apresentar nossa proposta?"
    assert recorded[0]["variables"] == {"empresa": "Padaria Pão Quente"}
    assert stat.S_IMODE(os.stat(outbox).st_mode) == 0o600


async def test_repeated_key_replays_receipt(tmp_path: Path) -> None:
    outbox = tmp_path / "messages.jsonl"
    gateway = SandboxMessaging(outbox)

    first = await gateway.send(message("k1"))
    again = await gateway.send(message("k1"))

    assert again.provider_message_id == first.provider_message_id
    assert again.replayed is True
    assert len(lines(outbox)) == 1


async def test_restarted_gateway_replays_receipt(tmp_path: Path) -> None:
    outbox = tmp_path / "messages.jsonl"
    first = await SandboxMessaging(outbox).send(message("k1"))

    # A new instance stands for a worker restarted after it was killed.
    again = await SandboxMessaging(outbox).send(message("k1"))

    assert again.provider_message_id == first.provider_message_id
    assert len(lines(outbox)) == 1


async def test_concurrent_same_key_sends_once(tmp_path: Path) -> None:
    outbox = tmp_path / "messages.jsonl"
    gateways = [SandboxMessaging(outbox) for _ in range(4)]

    receipts = await asyncio.gather(
        *(gateways[i % 4].send(message("k-race")) for i in range(20)),
        *(gateways[i % 4].send(message(f"k{i}")) for i in range(10)),
    )

    assert len({receipt.provider_message_id for receipt in receipts[:20]}) == 1
    assert sum(1 for receipt in receipts[:20] if not receipt.replayed) == 1
    assert len(lines(outbox)) == 11


async def test_cut_line_dropped_on_next_send(tmp_path: Path) -> None:
    outbox = tmp_path / "messages.jsonl"
    await SandboxMessaging(outbox).send(message("k1"))
    with outbox.open("ab") as handle:
        handle.write(b'{"provider_message_id": "SBXcut", "idempot')

    gateway = SandboxMessaging(outbox)
    await gateway.send(message("k2"))

    assert [line["idempotency_key"] for line in lines(outbox)] == ["k1", "k2"]
    assert [record["idempotency_key"] for record in gateway.sent()] == ["k1", "k2"]


async def test_whatsapp_missing_fails_not_on_channel(tmp_path: Path) -> None:
    gateway = SandboxMessaging(tmp_path / "messages.jsonl", not_on_whatsapp={"+5541987654321"})

    with pytest.raises(SendError) as failed:
        await gateway.send(message("k1"))
    sms = await gateway.send(message("k2", channel=Channel.SMS))

    assert failed.value.failure is SendFailure.NOT_ON_CHANNEL
    assert failed.value.code == "not_on_whatsapp"
    assert sms.replayed is False
