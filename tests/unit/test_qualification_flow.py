"""The per-pre-lead qualification state machine and the sending window."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from domain.errors import RuleViolation
from domain.qualification import (
    MAX_SEND_ATTEMPTS,
    Channel,
    FlowState,
    Outcome,
    Reachability,
    SendFailure,
    SendingWindow,
    company_display_name,
    opted_out,
    replied,
    reply_waited_out,
    retry_delay,
    reviewed,
    send_failed,
    sent,
    start,
)

NOW = dt.datetime(2026, 12, 7, 13, 0, tzinfo=dt.UTC)
WAIT = dt.timedelta(hours=24)
BOTH = Reachability(mobile=True, email=True)
SAO_PAULO = zoneinfo.ZoneInfo("America/Sao_Paulo")


def test_flow_walks_channels_to_no_answer() -> None:
    flow = start("p1", BOTH, NOW)
    seen = []
    moment = NOW
    while not flow.finished:
        seen.append(flow.channel)
        flow = sent(flow, moment, WAIT)
        moment = moment + WAIT
        flow = reply_waited_out(flow, moment)

    assert seen == [Channel.WHATSAPP, Channel.SMS, Channel.EMAIL]
    assert flow.outcome is Outcome.NO_ANSWER
    assert flow.reason == "no_reply"


def test_reachability_picks_channels() -> None:
    assert Reachability(mobile=False, email=True).channels() == (Channel.EMAIL,)
    assert Reachability(mobile=True, email=False).channels() == (Channel.WHATSAPP, Channel.SMS)

    nothing = start("p1", Reachability(mobile=False, email=False), NOW)
    assert nothing.finished
    assert nothing.outcome is Outcome.INVALID
    assert nothing.reason == "no_usable_contact"


def test_flow_not_on_whatsapp_moves_to_sms() -> None:
    flow = send_failed(start("p1", BOTH, NOW), SendFailure.NOT_ON_CHANNEL, NOW)

    assert flow.channel is Channel.SMS
    assert flow.state is FlowState.SENDING
    assert flow.next_action_at == NOW
    assert flow.reason == "not_on_channel"


def test_flow_retries_then_moves_on() -> None:
    flow = start("p1", BOTH, NOW)
    keys = [flow.idempotency_key]
    for attempt in range(1, MAX_SEND_ATTEMPTS):
        flow = send_failed(flow, SendFailure.RETRYABLE, NOW)
        assert flow.channel is Channel.WHATSAPP
        assert flow.attempt == attempt + 1
        assert flow.next_action_at == NOW + retry_delay(attempt)
        keys.append(flow.idempotency_key)

    flow = send_failed(flow, SendFailure.RETRYABLE, NOW)

    assert flow.channel is Channel.SMS
    assert flow.reason == "send_failed"
    assert len(set(keys)) == MAX_SEND_ATTEMPTS


def test_each_flow_of_a_prelead_has_its_own_keys() -> None:
    first = start("p1", BOTH, NOW, flow_id="f1")
    again = start("p1", BOTH, NOW, flow_id="f2")

    assert first.idempotency_key == "qualify:f1:whatsapp:1"
    assert again.idempotency_key != first.idempotency_key


def test_idempotency_key_stable_per_attempt() -> None:
    flow = start("p1", BOTH, NOW)

    # A worker killed after sending rebuilds the same flow and the same key.
    assert flow.idempotency_key == start("p1", BOTH, NOW).idempotency_key
    assert flow.idempotency_key == "qualify:p1:whatsapp:1"


def test_retry_delay_doubles_to_cap() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 5, 6, 9)] == [
        60, 120, 240, 480, 960, 1800, 1800,
    ]  # fmt: skip


def test_flow_rejected_last_channel_no_answer() -> None:
    flow = start("p1", Reachability(mobile=False, email=True), NOW)

    flow = send_failed(flow, SendFailure.PERMANENT, NOW)

    assert flow.outcome is Outcome.NO_ANSWER
    assert flow.reason == "send_rejected"


@pytest.mark.parametrize(
    "outcome",
    [Outcome.QUALIFIED, Outcome.NOT_INTERESTED, Outcome.INVALID, Outcome.OPT_OUT],
)
def test_flow_reply_ends_walk(outcome: Outcome) -> None:
    flow = sent(start("p1", BOTH, NOW), NOW, WAIT)

    done = replied(flow, outcome, "rule-x")

    assert done.finished
    assert done.outcome is outcome
    assert done.rule == "rule-x"
    assert done.next_action_at is None


def test_flow_late_reply_counts() -> None:
    flow = sent(start("p1", BOTH, NOW), NOW, WAIT)
    flow = reply_waited_out(flow, NOW + WAIT)
    assert flow.channel is Channel.SMS

    done = replied(flow, Outcome.QUALIFIED, "tenho interesse")

    assert done.outcome is Outcome.QUALIFIED


def test_flow_unsure_reply_waits_review() -> None:
    flow = sent(start("p1", BOTH, NOW), NOW, WAIT)

    parked = replied(flow, None, "question")
    assert parked.state is FlowState.IN_REVIEW
    assert parked.next_action_at is None

    done = reviewed(parked, Outcome.QUALIFIED)
    assert done.outcome is Outcome.QUALIFIED
    assert done.rule == "human_review"


def test_flow_ignores_replies_after_end() -> None:
    done = replied(sent(start("p1", BOTH, NOW), NOW, WAIT), Outcome.NOT_INTERESTED, "nao")

    assert replied(done, Outcome.QUALIFIED, "sim") == done
    assert opted_out(done) == done


def test_flow_early_wait_check_ignored() -> None:
    flow = sent(start("p1", BOTH, NOW), NOW, WAIT)

    assert reply_waited_out(flow, NOW + WAIT - dt.timedelta(seconds=1)) == flow


def test_flow_opt_out_before_send() -> None:
    done = opted_out(start("p1", BOTH, NOW))

    assert done.outcome is Outcome.OPT_OUT
    assert done.reason == "opted_out_before_send"


def test_flow_rejects_wrong_state() -> None:
    waiting = sent(start("p1", BOTH, NOW), NOW, WAIT)

    with pytest.raises(ValueError):
        sent(waiting, NOW, WAIT)
    with pytest.raises(ValueError):
        send_failed(waiting, SendFailure.RETRYABLE, NOW)
    with pytest.raises(ValueError):
        reviewed(waiting, Outcome.QUALIFIED)
    with pytest.raises(ValueError):
        replied(waiting, Outcome.NO_ANSWER, None)


# --- sending window ------------------------------------------------------------------

WINDOW = SendingWindow.create(
    "America/Sao_Paulo",
    dt.time(9, 0),
    dt.time(18, 0),
    {1, 2, 3, 4, 5},
    holidays=[dt.date(2026, 12, 25)],
)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SAO_PAULO)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Monday 10:00: open.
        (local(2026, 12, 7, 10), local(2026, 12, 7, 10)),
        # Monday 07:30: opens at 09:00 the same day.
        (local(2026, 12, 7, 7, 30), local(2026, 12, 7, 9)),
        # Monday 18:00 sharp: closed, Tuesday 09:00.
        (local(2026, 12, 7, 18), local(2026, 12, 8, 9)),
        # Friday 20:00: Monday 09:00.
        (local(2026, 12, 11, 20), local(2026, 12, 14, 9)),
        # Saturday noon: Monday 09:00.
        (local(2026, 12, 12, 12), local(2026, 12, 14, 9)),
        # Christmas Eve (Thursday) 19:00: Christmas is a holiday, Saturday and
        # Sunday are off, so Monday the 28th.
        (local(2026, 12, 24, 19), local(2026, 12, 28, 9)),
    ],
)
def test_window_next_opening(moment: dt.datetime, expected: dt.datetime) -> None:
    assert WINDOW.next_opening(moment) == expected


def test_window_reads_utc_in_tenant_zone() -> None:
    # 23:00 UTC on Monday is 20:00 in São Paulo: closed until Tuesday 09:00 (12:00 UTC).
    opening = WINDOW.next_opening(dt.datetime(2026, 12, 7, 23, 0, tzinfo=dt.UTC))

    assert opening == dt.datetime(2026, 12, 8, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("Brasil/Curitiba", dt.time(9), dt.time(18), {1}), "invalid_timezone"),
        (("America/Sao_Paulo", dt.time(18), dt.time(9), {1}), "invalid_sending_hours"),
        (("America/Sao_Paulo", dt.time(9), dt.time(18), set()), "invalid_sending_weekdays"),
        (("America/Sao_Paulo", dt.time(9), dt.time(18), {0, 8}), "invalid_sending_weekdays"),
    ],
)
def test_window_definition_checked(args: tuple[object, ...], code: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        SendingWindow.create(*args)  # type: ignore[arg-type]
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("trade_name", "legal_name", "shown"),
    [
        ("PADARIA BOM PAO", "JOAO DA SILVA LTDA", "Padaria Bom Pao"),
        (None, "ANA DE LIMA MOREIRA ***.***.***-**", "Ana de Lima Moreira"),
        ("", "26.402.290 BEATRIZ ANTUNES COSTA", "Beatriz Antunes Costa"),
        (None, "26402290 BEATRIZ ANTUNES COSTA ***.***.***-**", "Beatriz Antunes Costa"),
        (None, "DISTRIBUIDORA SERRA AZUL LTDA", "Distribuidora Serra Azul LTDA"),
        (None, "***.***.***-**", None),
        (None, None, None),
    ],
)
def test_messages_name_the_company_cleanly(
    trade_name: str | None, legal_name: str | None, shown: str | None
) -> None:
    assert company_display_name(trade_name, legal_name) == shown
