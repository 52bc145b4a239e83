"""Qualification routes: start and steer jobs, steps for n8n, replies, reviews, senders, opt-outs."""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from application.qualification_ports import (
    DueStep,
    Job,
    ReviewItem,
    Sender,
    StoredFlow,
    UnmatchedReply,
)
from domain.qualification import Channel, Outcome
from entrypoints.http.auth import actor_of, tenant_of
from entrypoints.http.context import (
    invalid_field,
    json_ok,
    json_page,
    optional_string,
    page_from_query,
    path_uuid,
    query_uuid,
    read_json_object,
    reject_unknown_keys,
    required_string,
    use_case,
)
from entrypoints.http.problems import ProblemError

_JOB = "Execução de qualificação"
_FLOW = "Qualificação de pré-lead"
_SENDER = "Remetente"
#: Replies longer than this are cut: no classifier rule needs more.
MAX_REPLY_LENGTH = 4000


def flow_json(stored: StoredFlow) -> dict[str, Any]:
    flow = stored.flow
    return {
        "id": stored.id,
        "job_id": stored.job_id,
        "prelead_id": flow.prelead_id,
        "cnpj": stored.cnpj,
        "state": flow.state.value,
        "channel": None if flow.channel is None else flow.channel.value,
        "remaining_channels": [channel.value for channel in flow.remaining],
        "attempt": flow.attempt,
        "next_action_at": None if flow.next_action_at is None else flow.next_action_at.isoformat(),
        "outcome": None if flow.outcome is None else flow.outcome.value,
        "reason": flow.reason,
        "rule": flow.rule,
    }


def job_json(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "selection_id": job.selection_id,
        "state": job.state,
        "orchestrator": job.orchestrator,
        "total": job.total,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "finished_at": None if job.finished_at is None else job.finished_at.isoformat(),
        "created_by": job.created_by_label,
        "progress": None if job.progress is None else job.progress.to_json(),
    }


def due_step_json(step: DueStep) -> dict[str, Any]:
    return {
        "flow_id": step.flow_id,
        "job_id": step.job_id,
        "prelead_id": step.prelead_id,
        "action": step.action,
        "channel": None if step.channel is None else step.channel.value,
        "due_at": step.due_at.isoformat(),
    }


def sender_json(sender: Sender) -> dict[str, Any]:
    return {
        "id": sender.id,
        "channel": sender.channel.value,
        "address": sender.address,
        "provider_ref": sender.provider_ref,
        "limit_per_period": sender.limit_per_period,
        "period_seconds": sender.period_seconds,
        "active": sender.active,
        "created_at": sender.created_at.isoformat(),
    }


def register_routes(app: web.Application) -> None:
    app.router.add_post("/v1/preleads/selections/{selection_id}/qualify", handle_start)
    app.router.add_get("/v1/jobs", handle_jobs, allow_head=False)
    app.router.add_get("/v1/jobs/{job_id}", handle_job, allow_head=False)
    app.router.add_post("/v1/jobs/{job_id}/pause", handle_pause)
    app.router.add_post("/v1/jobs/{job_id}/resume", handle_resume)
    app.router.add_post("/v1/jobs/{job_id}/cancel", handle_cancel)
    app.router.add_get("/v1/qualification/due", handle_due, allow_head=False)
    app.router.add_get("/v1/qualification/flows/{flow_id}", handle_flow, allow_head=False)
    app.router.add_post("/v1/qualification/flows/{flow_id}/advance", handle_advance)
    app.router.add_post("/v1/qualification/replies", handle_reply)
    app.router.add_get("/v1/qualification/reviews", handle_reviews, allow_head=False)
    app.router.add_post("/v1/qualification/reviews/{flow_id}", handle_review)
    app.router.add_get("/v1/qualification/unmatched", handle_unmatched, allow_head=False)
    app.router.add_get("/v1/qualification/senders", handle_senders, allow_head=False)
    app.router.add_post("/v1/qualification/senders", handle_add_sender)
    app.router.add_delete("/v1/qualification/senders/{sender_id}", handle_remove_sender)
    app.router.add_post("/v1/opt-outs", handle_opt_out)
    app.router.add_post("/v1/host/opt-outs", handle_host_opt_out)
    app.router.add_get("/v1/host/qualification/unmatched", handle_host_unmatched, allow_head=False)
    app.router.add_get("/v1/unsubscribe/{token}", handle_unsubscribe, allow_head=False)
    app.router.add_post("/v1/unsubscribe/{token}", handle_unsubscribe)


# --- jobs -------------------------------------------------------------------------


async def handle_start(request: web.Request) -> web.Response:
    selection_id = path_uuid(request, "selection_id", what="Seleção")
    partial = False
    if request.can_read_body:
        body = await read_json_object(request)
        reject_unknown_keys(body, frozenset({"partial"}))
        partial = body.get("partial", False)
        if not isinstance(partial, bool):
            raise invalid_field("partial", "O campo 'partial' deve ser true ou false.")
    qualification = await use_case(request, "qualification")
    job = await qualification.start(
        actor_of(request), tenant_of(request), selection_id, partial=partial
    )
    return json_ok(job_json(job), status=202, headers={"Location": f"/v1/jobs/{job.id}"})


async def handle_jobs(request: web.Request) -> web.Response:
    qualification = await use_case(request, "qualification")
    page = await qualification.jobs(
        tenant_of(request), page_from_query(request), query_uuid(request, "selection_id")
    )
    return json_page(page, job_json)


async def handle_job(request: web.Request) -> web.Response:
    job_id = path_uuid(request, "job_id", what=_JOB)
    qualification = await use_case(request, "qualification")
    return json_ok(job_json(await qualification.job(tenant_of(request), job_id)))


async def _steer(request: web.Request, action: str) -> web.Response:
    job_id = path_uuid(request, "job_id", what=_JOB)
    qualification = await use_case(request, "qualification")
    job = await getattr(qualification, action)(actor_of(request), tenant_of(request), job_id)
    return json_ok(job_json(job))


async def handle_pause(request: web.Request) -> web.Response:
    return await _steer(request, "pause")


async def handle_resume(request: web.Request) -> web.Response:
    return await _steer(request, "resume")


async def handle_cancel(request: web.Request) -> web.Response:
    return await _steer(request, "cancel")


# --- steps for an external orchestrator ------------------------------------------------


async def handle_due(request: web.Request) -> web.Response:
    qualification = await use_case(request, "qualification")
    page = await qualification.due_steps(tenant_of(request), page_from_query(request))
    return json_page(page, due_step_json)


async def handle_flow(request: web.Request) -> web.Response:
    flow_id = path_uuid(request, "flow_id", what=_FLOW)
    qualification = await use_case(request, "qualification")
    return json_ok(flow_json(await qualification.flow(tenant_of(request), flow_id)))


async def handle_advance(request: web.Request) -> web.Response:
    flow_id = path_uuid(request, "flow_id", what=_FLOW)
    qualification = await use_case(request, "qualification")
    return json_ok(flow_json(await qualification.advance_now(tenant_of(request), flow_id)))


# --- replies and reviews ----------------------------------------------------------------


def _channel(value: Any) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise invalid_field(
            "channel", "O campo 'channel' deve ser 'whatsapp', 'sms' ou 'email'."
        ) from None


async def handle_reply(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(body, frozenset({"channel", "from", "body", "message_id"}))
    channel = _channel(body.get("channel"))
    sender = required_string(body, "from", max_length=320)
    text = body.get("body")
    if not isinstance(text, str):
        raise invalid_field("body", "O campo 'body' deve ser o texto da resposta.")
    message_id = optional_string(body, "message_id", max_length=200)
    qualification = await use_case(request, "qualification_replies")
    result = await qualification.reply_from_api(
        actor_of(request),
        tenant_of(request),
        channel=channel,
        sender=sender,
        body=text[:MAX_REPLY_LENGTH],
        message_id=message_id,
    )
    return json_ok(result.to_json(), status=202)


async def handle_reviews(request: web.Request) -> web.Response:
    qualification = await use_case(request, "qualification_replies")
    page = await qualification.reviews(
        actor_of(request), tenant_of(request), page_from_query(request)
    )

    def render(item: ReviewItem) -> dict[str, Any]:
        return {
            "flow_id": item.flow_id,
            "job_id": item.job_id,
            "prelead_id": item.prelead_id,
            "cnpj": item.cnpj,
            "channel": None if item.channel is None else item.channel.value,
            "rule": item.rule,
            "reply": qualification.decrypt(item.reply_encrypted),
            "replied_at": None if item.replied_at is None else item.replied_at.isoformat(),
        }

    return json_page(page, render)


async def handle_review(request: web.Request) -> web.Response:
    flow_id = path_uuid(request, "flow_id", what=_FLOW)
    body = await read_json_object(request)
    reject_unknown_keys(body, frozenset({"outcome"}))
    try:
        outcome = Outcome(body.get("outcome"))
    except ValueError:
        raise invalid_field(
            "outcome",
            "O campo 'outcome' deve ser 'qualified', 'not_interested', 'invalid' ou 'opt_out'.",
        ) from None
    qualification = await use_case(request, "qualification_replies")
    stored = await qualification.review(actor_of(request), tenant_of(request), flow_id, outcome)
    return json_ok(flow_json(stored))


async def handle_unmatched(request: web.Request) -> web.Response:
    return await _unmatched(request, tenant_of(request))


async def handle_host_unmatched(request: web.Request) -> web.Response:
    return await _unmatched(request, None)


async def _unmatched(request: web.Request, tenant_id: str | None) -> web.Response:
    replies = await use_case(request, "qualification_replies")
    page = await replies.unmatched(actor_of(request), tenant_id, page_from_query(request))

    def render(item: UnmatchedReply) -> dict[str, Any]:
        return {
            "id": item.id,
            "provider": item.provider,
            "channel": item.channel.value,
            "from": replies.decrypt(item.sender_encrypted),
            "to": item.recipient,
            "body": replies.decrypt(item.body_encrypted),
            "received_at": item.received_at.isoformat(),
        }

    return json_page(page, render)


async def handle_senders(request: web.Request) -> web.Response:
    qualification = await use_case(request, "qualification")
    page = await qualification.senders(tenant_of(request), page_from_query(request))
    return json_page(page, sender_json)


async def handle_add_sender(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    reject_unknown_keys(
        body,
        frozenset({"channel", "address", "provider_ref", "limit_per_period", "period_seconds"}),
    )
    channel = _channel(body.get("channel"))
    address = required_string(body, "address", max_length=320)
    limit = body.get("limit_per_period")
    period = body.get("period_seconds", 60)
    for field, value in (("limit_per_period", limit), ("period_seconds", period)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid_field(field, f"O campo '{field}' deve ser um número inteiro.")
    qualification = await use_case(request, "qualification")
    sender = await qualification.add_sender(
        tenant_of(request),
        channel=channel,
        address=address,
        limit_per_period=limit,
        period_seconds=period,
        provider_ref=optional_string(body, "provider_ref", max_length=200),
    )
    return json_ok(sender_json(sender), status=201)


async def handle_remove_sender(request: web.Request) -> web.Response:
    sender_id = path_uuid(request, "sender_id", what=_SENDER)
    qualification = await use_case(request, "qualification")
    await qualification.remove_sender(tenant_of(request), sender_id)
    return web.Response(status=204)


# --- opt-outs ---------------------------------------------------------------------------------


def _opt_out_body(body: dict[str, Any]) -> tuple[str, str]:
    reject_unknown_keys(body, frozenset({"phone", "email", "cnpj"}))
    given = [(kind, body[kind]) for kind in ("phone", "email", "cnpj") if body.get(kind)]
    if len(given) != 1 or not isinstance(given[0][1], str):
        raise invalid_field(
            "phone", "Informe um, e só um, de 'phone', 'email' ou 'cnpj', como texto."
        )
    return given[0]


async def handle_opt_out(request: web.Request) -> web.Response:
    kind, value = _opt_out_body(await read_json_object(request))
    qualification = await use_case(request, "qualification_replies")
    added = await qualification.record_opt_out(
        actor_of(request), tenant_of(request), kind=kind, value=value
    )
    return json_ok({"kind": kind, "added": added}, status=201 if added else 200)


async def handle_host_opt_out(request: web.Request) -> web.Response:
    kind, value = _opt_out_body(await read_json_object(request))
    qualification = await use_case(request, "qualification_replies")
    added = await qualification.record_opt_out(actor_of(request), None, kind=kind, value=value)
    return json_ok({"kind": kind, "added": added}, status=201 if added else 200)


_PAGE = """<!doctype html>
<html lang="pt-BR"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{text}</p>{form}</body></html>
"""


def _page(title: str, text: str, form: str = "") -> web.Response:
    body = _PAGE.format(title=html.escape(title), text=html.escape(text), form=form)
    return web.Response(text=body, content_type="text/html", charset="utf-8")


async def handle_unsubscribe(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    replies = await use_case(request, "qualification_replies")
    if not replies.unsubscribe_link_valid(token):
        raise ProblemError(
            404,
            "unsubscribe_link_invalid",
            "Este link de descadastro não é válido. Responda ao e-mail com a palavra SAIR.",
        )

    # Opening the link only shows the confirmation button, because mail
    # scanners open every link of a message. The button, and the one-click
    # POST of mail clients (RFC 8058), record the opt-out.
    if request.method == "GET":
        return _page(
            "Descadastro",
            "Confirme para não receber mais mensagens enviadas pelo Garimpo neste endereço.",
            '<form method="post"><button type="submit">Confirmar descadastro</button></form>',
        )
    await replies.unsubscribe(token)
    return _page(
        "Descadastro confirmado",
        "Pronto: nenhuma empresa que usa o Garimpo enviará mais mensagens a este endereço.",
    )
