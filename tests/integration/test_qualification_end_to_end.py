"""A selection of 20 pre-leads qualified end to end against local Twilio and SendGrid fakes.

Everything is real but the providers: the API on a loopback port, two
``garimpo worker`` processes over Redis, PostgreSQL as the application role.
The fakes speak Twilio's and SendGrid's wire formats and post signed
webhooks to the API, as the providers would.

The story, one pre-lead per line (``p<n>``):

- p0-p4 answer "sim" on WhatsApp: qualified.
- p5 answers from a WhatsApp id without the ninth digit: still matched, qualified.
- p6, p7 are not interested; p8 says the number is wrong (invalid).
- p9, p10 ask to stop: opt-out, one confirmation each, never contacted again.
- p11, p12 have no WhatsApp (the send is refused): SMS at once, "pode ligar" qualifies.
- p13, p14 are being sent when a worker is killed; the job resumes without
  sending their keys again. p13 then answers "sim"; p14 never answers.
- p15 does not answer on WhatsApp nor SMS and answers the e-mail: qualified.
- p16 gives an unsure answer; a person decides not_interested.
- p17 has only an e-mail, and declines by e-mail.
- p18's WhatsApp fails after being accepted (Twilio's late 63024): SMS, "sim".
- p19 never answers: no_answer after the three channels.

Waiting for a reply is simulated by moving the deadline of the waiting
flows to now, instead of waiting a real day.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import attrs
import pytest
from aiohttp.test_utils import TestServer

from domain.audit import Actor, ActorType
from entrypoints.container import Container, build_container, provide
from entrypoints.http.server import build_app
from entrypoints.settings import Settings
from tests.support.companies import store_companies, valid_cnpj
from tests.support.fake_sendgrid import FakeSendGrid, reply_headers
from tests.support.fake_twilio import MESSAGING_SERVICE_SID, FakeTwilio
from tests.support.identity import create_api_key, create_tenant, owner_execute
from tests.support.qualification import open_all_hours
from tests.support.workers import WorkerProcess, worker_environment

HOST = Actor(type=ActorType.SYSTEM, label="teste")
#: The number the replies come to. A number belongs to one tenant, so it is
#: drawn per run: another test may have put a fixed one in its sender pool.
TENANT_NUMBER = f"+55419{secrets.randbelow(10**8):08d}"
QUALIFIED = {0, 1, 2, 3, 4, 5, 11, 12, 13, 15, 18}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.define
class World:
    settings: Settings
    container: Container
    app_url: str
    twilio: FakeTwilio
    sendgrid: FakeSendGrid
    tenant_id: str
    key: str
    workers: list[WorkerProcess]
    log_dir: Path

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, self.app_url + path, json=body, headers={"X-API-Key": self.key}
            ) as response,
        ):
            return response.status, await response.json(content_type=None)

    def start_worker(self, name: str) -> WorkerProcess:
        env = worker_environment(self.settings, provider_environment(self))
        worker = WorkerProcess(env, self.log_dir / f"{name}.log")
        self.workers.append(worker)
        return worker

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        assert self.settings.database_url
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


def provider_environment(world: World) -> dict[str, str]:
    return {
        "WHATSAPP_PROVIDER": "twilio",
        "SMS_PROVIDER": "twilio",
        "EMAIL_PROVIDER": "sendgrid",
        "TWILIO_ACCOUNT_SID": world.twilio.account_sid,
        "TWILIO_AUTH_TOKEN": world.twilio.auth_token,
        "TWILIO_API_URL": world.twilio.base_url,
        "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID,
        "SENDGRID_API_KEY": world.sendgrid.api_key,
        "SENDGRID_API_URL": world.sendgrid.base_url,
        "PUBLIC_BASE_URL": world.app_url,
    }


@pytest.fixture
async def world(settings: Settings, tmp_path: Path) -> AsyncIterator[World]:
    async with FakeTwilio() as twilio, FakeSendGrid() as sendgrid:
        port = free_port()
        app_url = f"http://127.0.0.1:{port}"
        configured = attrs.evolve(
            settings,
            whatsapp_provider="twilio",
            sms_provider="twilio",
            email_provider="sendgrid",
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_api_url=twilio.base_url,
            twilio_messaging_service_sid=MESSAGING_SERVICE_SID,
            sendgrid_api_key=sendgrid.api_key,
            sendgrid_api_url=sendgrid.base_url,
            sendgrid_webhook_public_key=sendgrid.event_key.public_key,
            sendgrid_inbound_public_key=sendgrid.inbound_key.public_key,
            public_base_url=app_url,
            public_base_url_configured=True,
            qualification_tick_seconds=0.2,
            qualification_lease_seconds=3,
            worker_threads=4,
        )
        container = build_container(configured)
        server = TestServer(build_app(container), host="127.0.0.1", port=port)
        await server.start_server()

        assert configured.database_url
        tenant_id = await create_tenant(configured.database_url, f"Vendas {uuid.uuid4().hex[:6]}")
        _, key = await create_api_key(configured.database_url, tenant_id)
        world = World(
            configured, container, app_url, twilio, sendgrid, tenant_id, key, [], tmp_path
        )
        try:
            yield world
        finally:
            for worker in world.workers:
                worker.stop()
            await server.close()


async def eventually(check: Callable[[], Awaitable[Any]], what: str, within: float = 45) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def mobile(prefix: str, index: int) -> str:
    """A Brazilian mobile: DDD 41, a 9, then an eight-digit number starting with 8."""
    return f"+55419{prefix}{index:02d}"


async def test_twenty_preleads_end_with_the_right_outcome_and_charge(world: World) -> None:
    database = world.settings.database_url
    assert database
    twilio, sendgrid = world.twilio, world.sendgrid

    # --- the tenant, its settings and credits, twenty companies -----------------------
    await open_all_hours(database, world.tenant_id, reply_wait_minutes=60)
    credits = await provide(world.container.credits)
    await credits.grant(HOST, world.tenant_id, 25)

    prefix = f"8{secrets.randbelow(100_000):05d}"
    block = uuid.uuid4().int % 90_000_000 // 100 * 100 + 1_000_000
    cnpjs = [valid_cnpj(block + n) for n in range(20)]
    phones = [mobile(prefix, n) for n in range(20)]
    emails = [f"contato{n}.{prefix}@empresa{n}.com.br" for n in range(20)]
    await store_companies(
        database,
        cnpjs,
        phones=[[] if n == 17 else [phones[n]] for n in range(20)],
        emails=emails,
    )
    for n in (11, 12):
        twilio.not_on_whatsapp(f"whatsapp:{phones[n]}")
    for n in (13, 14):
        twilio.delay(f"whatsapp:{phones[n]}", 6)

    # --- start, and kill the only worker while p13 and p14 are being sent ----------
    status, selection = await world.api("POST", "/v1/preleads/selections", {"cnpjs": cnpjs})
    assert status == 201, selection
    status, started = await world.api(
        "POST", f"/v1/preleads/selections/{selection['data']['id']}/qualify"
    )
    assert status == 202, started
    job_id = started["data"]["id"]
    assert started["data"]["total"] == 20
    balance = await credits.balance(world.tenant_id)
    assert (balance.balance, balance.held) == (25, 20)

    # Only p13 and p14 are due while the first worker lives, so nothing else
    # is in flight when it dies.
    slow_cnpjs = [cnpjs[13], cnpjs[14]]
    await owner_execute(
        database,
        "UPDATE qualification_flow f SET next_action_at = now() + interval '1 hour' "
        "FROM prelead p WHERE p.id = f.prelead_id AND f.job_id = $1 "
        "AND NOT p.cnpj = ANY ($2::text[])",
        uuid.UUID(job_id),
        slow_cnpjs,
    )
    first = world.start_worker("first")
    slow = {f"whatsapp:{phones[13]}", f"whatsapp:{phones[14]}"}

    async def slow_ones_at_provider() -> bool:
        return slow <= {message.to for message in twilio.messages}

    await eventually(slow_ones_at_provider, "the slow sends to reach Twilio")
    first.kill()
    await owner_execute(
        database,
        "UPDATE qualification_flow SET next_action_at = now() WHERE job_id = $1 "
        "AND state = 'sending' AND next_action_at > now()",
        uuid.UUID(job_id),
    )
    world.start_worker("second")
    world.start_worker("third")

    # Everyone reachable on WhatsApp gets one WhatsApp; p11 and p12 go to SMS at
    # once; p17 (no mobile) starts with e-mail.
    async def first_round_out() -> bool:
        rows = await world.sql(
            "SELECT count(*) AS n FROM qualification_flow WHERE job_id = $1 "
            "AND state = 'awaiting_reply'",
            uuid.UUID(job_id),
        )
        return rows[0]["n"] == 20

    await eventually(first_round_out, "every flow to wait for a reply")
    keys = twilio.keys_sent() + sendgrid.sent_keys()
    assert len(keys) == len(set(keys)), "an idempotency key went out twice"
    # The sends the killed worker left unfinished are never sent again, the
    # slow two among them: the provider has them, the worker never knew.
    unconfirmed = await world.sql(
        "SELECT p.cnpj, m.error_code, m.state FROM message_send m "
        "JOIN qualification_flow f ON f.id = m.flow_id JOIN prelead p ON p.id = f.prelead_id "
        "WHERE m.tenant_id = $1 AND m.state IN ('unconfirmed', 'failed')",
        uuid.UUID(world.tenant_id),
    )
    assert sorted((row["cnpj"], row["state"], row["error_code"]) for row in unconfirmed) == [
        (cnpjs[11], "failed", "63024"),
        (cnpjs[12], "failed", "63024"),
        (cnpjs[13], "unconfirmed", None),
        (cnpjs[14], "unconfirmed", None),
    ]

    whatsapp_of = {message.to: message for message in twilio.messages}
    assert f"whatsapp:{phones[11]}" not in whatsapp_of
    assert phones[11] in whatsapp_of  # the SMS
    assert [mail.to for mail in sendgrid.sent] == [emails[17]]

    # --- provider webhooks: statuses out of order, a late failure, replies --------------
    webhook = world.app_url + "/v1/webhooks/twilio"

    async def twilio_status(message: Any, status: str, error: str | None = None) -> None:
        path, form = twilio.status_callback(message, status, error_code=error)
        result = await twilio.post_webhook(world.app_url + path, form)
        assert result.status == 200, result.text

    p0 = whatsapp_of[f"whatsapp:{phones[0]}"]
    for status_name in ("delivered", "sent", "read"):
        await twilio_status(p0, status_name)
    p1 = whatsapp_of[f"whatsapp:{phones[1]}"]
    await twilio_status(p1, "delivered")
    await twilio_status(p1, "failed", "30008")
    await twilio_status(whatsapp_of[f"whatsapp:{phones[18]}"], "undelivered", "63024")

    async def reply(
        n: int, body: str, *, channel: str = "whatsapp", wa_id: str | None = None
    ) -> None:
        sender = f"whatsapp:+{wa_id}" if wa_id else f"whatsapp:{phones[n]}"
        if channel == "sms":
            sender = phones[n]
        form = twilio.inbound_message(
            sender,
            f"whatsapp:{TENANT_NUMBER}" if channel == "whatsapp" else TENANT_NUMBER,
            body,
            wa_id=wa_id,
        )
        result = await twilio.post_webhook(webhook, form)
        assert result.status == 200, result.text
        if n == 0:
            # Twilio retries a webhook it thinks failed: the same message again.
            again = await twilio.post_webhook(webhook, form)
            assert again.status == 200

    for n in range(5):
        await reply(n, "Sim, tenho interesse!")
    without_ninth = "55" + phones[5][3:5] + phones[5][6:]
    await reply(5, "Quero saber mais 😀", wa_id=without_ninth)
    await reply(6, "Não tenho interesse, obrigado")
    await reply(7, "agora não")
    await reply(8, "Número errado")
    await reply(9, "PARE")
    await reply(10, "não quero receber mensagens")
    await reply(11, "pode ligar", channel="sms")
    await reply(12, "Sim", channel="sms")
    await reply(13, "sim!!")
    await reply(16, "hmm")

    async def p18_on_sms() -> bool:
        return any(message.to == phones[18] for message in twilio.messages)

    await eventually(p18_on_sms, "p18 to get the SMS after the late WhatsApp failure")
    await reply(18, "sim", channel="sms")

    # p17 declines by e-mail.
    async def sendgrid_inbound(n: int, text: str) -> None:
        sent = next(mail for mail in sendgrid.sent if mail.to == emails[n])
        signed = sendgrid.inbound(
            {
                "headers": reply_headers(
                    message_id=f"reply{n}.{prefix}@mail.empresa{n}.com.br",
                    in_reply_to=f"{sent.message_id}@ismtpd0001p1las1.sendgrid.net",
                    sender=emails[n],
                ),
                "from": f"Contato <{emails[n]}>",
                "to": "contato@garimpo.invalid",
                "subject": "Re: Uma proposta",
                "text": text,
            }
        )
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                world.app_url + "/v1/webhooks/sendgrid/inbound",
                data=signed.body,
                headers=signed.headers,
            ) as response,
        ):
            assert response.status == 200, await response.text()

    # SendGrid reports p17's e-mail delivered and opened, and delivers the batch twice.
    async def sendgrid_events(signed: Any) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                world.app_url + "/v1/webhooks/sendgrid", data=signed.body, headers=signed.headers
            ) as response,
        ):
            assert response.status == 200, await response.text()

    mail_17 = next(mail for mail in sendgrid.sent if mail.to == emails[17])
    batch = sendgrid.event_batch(
        [sendgrid.event(mail_17, "delivered"), sendgrid.event(mail_17, "open")]
    )
    await sendgrid_events(batch)
    await sendgrid_events(batch)
    await sendgrid_inbound(17, "Não, obrigado.")

    # --- the waits end: p14, p15 and p19 move to SMS, then to e-mail -------------------
    async def wait_over() -> None:
        await owner_execute(
            database,
            "UPDATE qualification_flow SET next_action_at = now() "
            "WHERE job_id = $1 AND state = 'awaiting_reply'",
            uuid.UUID(job_id),
        )

    async def channel_of(*numbers: int) -> set[str]:
        rows = await world.sql(
            "SELECT DISTINCT f.channel FROM qualification_flow f JOIN prelead p "
            "ON p.id = f.prelead_id WHERE f.job_id = $1 AND p.cnpj = ANY ($2::text[]) "
            "AND f.state = 'awaiting_reply'",
            uuid.UUID(job_id),
            [cnpjs[n] for n in numbers],
        )
        return {row["channel"] for row in rows}

    await wait_over()
    await eventually(lambda: _equals(channel_of(14, 15, 19), {"sms"}), "the SMS round")
    await wait_over()
    await eventually(lambda: _equals(channel_of(14, 15, 19), {"email"}), "the e-mail round")
    await sendgrid_inbound(15, "Tenho interesse, me liga amanhã.")
    await wait_over()

    # A person decides p16's unsure reply.
    status, reviews = await world.api("GET", "/v1/qualification/reviews")
    assert [item["reply"] for item in reviews["data"]] == ["hmm"]
    status, _ = await world.api(
        "POST",
        f"/v1/qualification/reviews/{reviews['data'][0]['flow_id']}",
        {"outcome": "not_interested"},
    )
    assert status == 200

    async def finished() -> Any:
        status, job = await world.api("GET", f"/v1/jobs/{job_id}")
        return job["data"] if job["data"]["state"] == "finished" else None

    job = await eventually(finished, "the job to finish")

    # --- outcomes, captures and releases -----------------------------------------------------
    outcomes = {
        row["cnpj"]: row["outcome"]
        for row in await world.sql(
            "SELECT p.cnpj, f.outcome FROM qualification_flow f JOIN prelead p "
            "ON p.id = f.prelead_id WHERE f.job_id = $1",
            uuid.UUID(job_id),
        )
    }
    expected = {
        **{cnpjs[n]: "qualified" for n in QUALIFIED},
        cnpjs[6]: "not_interested",
        cnpjs[7]: "not_interested",
        cnpjs[8]: "invalid",
        cnpjs[9]: "opt_out",
        cnpjs[10]: "opt_out",
        cnpjs[14]: "no_answer",
        cnpjs[16]: "not_interested",
        cnpjs[17]: "not_interested",
        cnpjs[19]: "no_answer",
    }
    assert outcomes == expected
    assert job["progress"]["classified"] == {
        "qualified": 11,
        "not_interested": 4,
        "invalid": 1,
        "opt_out": 2,
        "no_answer": 2,
    }

    balance = await credits.balance(world.tenant_id)
    assert (balance.balance, balance.held) == (25 - len(QUALIFIED), 0)
    entries = await world.sql(
        "SELECT kind, count(*) AS n FROM credit_entry WHERE tenant_id = $1 GROUP BY kind",
        uuid.UUID(world.tenant_id),
    )
    counted = {row["kind"]: row["n"] for row in entries}
    assert (counted["capture"], counted["release"]) == (len(QUALIFIED), 20 - len(QUALIFIED))
    leads = await world.sql(
        "SELECT cnpj FROM lead WHERE tenant_id = $1", uuid.UUID(world.tenant_id)
    )
    assert sorted(row["cnpj"] for row in leads) == sorted(cnpjs[n] for n in QUALIFIED)

    # --- webhooks: one interaction per message, statuses never move back ----------------
    statuses = {
        row["provider_message_id"]: (row["status"], row["failed_at"] is not None)
        for row in await world.sql(
            "SELECT provider_message_id, status, failed_at FROM interaction "
            "WHERE provider_message_id = ANY ($1::text[])",
            [p0.sid, p1.sid],
        )
    }
    assert statuses == {p0.sid: ("read", False), p1.sid: ("delivered", True)}
    inbound_p0 = await world.sql(
        "SELECT count(*) AS n FROM interaction i JOIN prelead p ON p.id = i.prelead_id "
        "WHERE p.cnpj = $1 AND i.direction = 'inbound'",
        cnpjs[0],
    )
    assert inbound_p0[0]["n"] == 1

    mail_statuses = await world.sql(
        "SELECT i.status, i.read_at IS NOT NULL AS read FROM interaction i "
        "WHERE i.provider = 'sendgrid' AND i.provider_message_id = $1",
        mail_17.message_id,
    )
    assert [(row["status"], row["read"]) for row in mail_statuses] == [("read", True)]
    events = await world.sql(
        "SELECT count(*) AS n FROM provider_event WHERE provider = 'sendgrid' AND kind LIKE 'status:%' "
        "AND provider_message_id = $1",
        mail_17.message_id,
    )
    assert events[0]["n"] == 2

    # A SendGrid unsubscribe after the job: p14's address joins both lists.
    mail_14 = next(mail for mail in sendgrid.sent if mail.to == emails[14])
    await sendgrid_events(sendgrid.event_batch([sendgrid.event(mail_14, "unsubscribe")]))
    cipher_hash = (await provide(world.container.personal_data_cipher)).lookup_hash(
        "email", emails[14]
    )
    listed = await world.sql(
        "SELECT tenant_id FROM opt_out WHERE kind = 'email' AND value_hash = $1", cipher_hash
    )
    assert sorted(str(row["tenant_id"]) for row in listed) == sorted([world.tenant_id, "None"])

    # --- opt-outs: one confirmation, never contacted again ---------------------------------
    to_p9 = [message for message in twilio.messages if message.to.endswith(phones[9])]
    assert len(to_p9) == 2  # the first WhatsApp and its one confirmation
    assert "não receberá mais mensagens" in (to_p9[1].body or "")

    again_cnpj = valid_cnpj(block + 50)
    await store_companies(database, [again_cnpj], phones=[[phones[10]]], emails=[None])
    status, second = await world.api(
        "POST", "/v1/preleads/selections", {"cnpjs": [cnpjs[9], cnpjs[10], again_cnpj]}
    )
    assert second["data"]["flag_counts"].get("opted_out") == 3
    status, refused = await world.api(
        "POST", f"/v1/preleads/selections/{second['data']['id']}/qualify"
    )
    assert (status, refused["code"]) == (422, "nothing_to_qualify")
    # Each of the two got its first WhatsApp and its one confirmation, nothing since.
    for n in (9, 10):
        assert len([m for m in twilio.messages if m.to.endswith(phones[n])]) == 2

    # Every key went out once, after the kill included.
    keys = twilio.keys_sent() + sendgrid.sent_keys()
    assert len(keys) == len(set(keys))


async def _equals(pending: Awaitable[set[str]], expected: set[str]) -> bool:
    return await pending == expected
