"""Tenant webhooks: the events a tenant subscribes to, the targets we may call, signatures, retries.

A tenant registers an endpoint (an HTTPS URL and the event types it wants).
Each event becomes one delivery per subscribed endpoint: a JSON POST signed
with the endpoint's secret, retried with exponential backoff and jitter until
the receiver responds with a 2xx status or the retry window closes.

Targets are checked twice. When the endpoint is registered, the URL is parsed
and an IP address written in it is classified here. When a delivery goes
out, the adapter resolves the host name once, classifies every address with
:func:`address_refusal` and connects only to the checked address, so a DNS
answer cannot switch the target between the check and the connection.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import ipaddress
import json
import re
from typing import Any
from urllib.parse import urlsplit

import attrs

from domain.errors import Conflict, DomainError

#: Event types a tenant can subscribe to, with the description the API shows.
WEBHOOK_EVENTS: dict[str, str] = {
    "credits.low": "O saldo disponível de créditos caiu ao limite de alerta ou abaixo dele.",
    "lead.qualified": "Um pré-lead foi qualificado e virou lead no funil.",
    "lead.stage_changed": "Um lead mudou de etapa no funil.",
    "selection.qualification_finished": (
        "A qualificação de uma seleção terminou: todos os pré-leads têm resultado."
    ),
}

EVENT_ID_HEADER = "Garimpo-Event-Id"
EVENT_TYPE_HEADER = "Garimpo-Event-Type"
TIMESTAMP_HEADER = "Garimpo-Timestamp"
SIGNATURE_HEADER = "Garimpo-Signature"
#: Version tag of the signature scheme in the header (``v1=<hex>``).
SIGNATURE_VERSION = "v1"
SECRET_PREFIX = "whsec_"

#: Deliveries are retried for this long after the event, then marked failed.
RETRY_WINDOW = dt.timedelta(hours=24)
FIRST_RETRY_DELAY = dt.timedelta(seconds=30)
MAX_RETRY_DELAY = dt.timedelta(hours=1)
#: Signatures older than this should be rejected by receivers, against replays.
SIGNATURE_TOLERANCE_SECONDS = 300

MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 200
#: Active endpoints per tenant: enough for a CRM, an automation tool and tests.
MAX_ENDPOINTS_PER_TENANT = 10

#: Cloud instance metadata services: never a webhook target, whatever the settings.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(value)
    for value in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS over IPv6
    )
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})

_HOST_NAME = re.compile(
    r"^(?=.{1,253}\.?$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$"
)
#: Dotted, decimal, octal or hexadecimal numbers that some resolvers read as an
#: IPv4 address (``2130706433``, ``127.1``, ``0x7f.1``) although they are not
#: written in the canonical form.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*\.?$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidWebhookEndpoint(DomainError):
    """Raised when an endpoint's URL, events or description cannot be accepted."""

    code = "invalid_webhook_endpoint"


class WebhookTargetRefused(DomainError):
    """Raised when a URL, or an address its host resolves to, is private, loopback or metadata."""

    code = "webhook_target_not_allowed"


class WebhookEndpointLimit(Conflict):
    code = "webhook_endpoint_limit"

    def __init__(self) -> None:
        super().__init__(
            f"O limite é de {MAX_ENDPOINTS_PER_TENANT} endpoints de webhook ativos. "
            "Remova um endpoint que não usa antes de cadastrar outro."
        )


class WebhookEndpointRemoved(Conflict):
    code = "webhook_endpoint_removed"

    def __init__(self) -> None:
        super().__init__(
            "O endpoint desta entrega foi removido; cadastre-o de novo para receber eventos."
        )


# --- what the tenant registers -------------------------------------------------------


def check_events(value: Any) -> tuple[str, ...]:
    """Validate the list of event types of an endpoint: known names, at least one, no repeats."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidWebhookEndpoint(
            "O campo 'events' deve ser uma lista de tipos de evento.", field="events"
        )
    if not value:
        raise InvalidWebhookEndpoint("Informe ao menos um tipo de evento.", field="events")

    accepted = ", ".join(sorted(WEBHOOK_EVENTS))
    for name in value:
        if name not in WEBHOOK_EVENTS:
            raise InvalidWebhookEndpoint(
                f"Tipo de evento desconhecido: '{name}'. Tipos aceitos: {accepted}.",
                field="events",
            )
    return tuple(sorted(set(value)))


def check_description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidWebhookEndpoint("A descrição deve ser um texto.", field="description")
    text = value.strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise InvalidWebhookEndpoint(
            f"A descrição pode ter no máximo {MAX_DESCRIPTION_LENGTH} caracteres.",
            field="description",
        )
    return text or None


# --- where we may connect -------------------------------------------------------------


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Return why a webhook may not connect to ``address``, or None when it may.

    Metadata, unspecified and multicast addresses are refused always.
    Loopback, private (RFC 1918, fc00::/7), link-local and every other
    non-global range are refused unless ``allow_private`` is set, which
    development and tests use for a receiver on 127.0.0.1.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped

    if address in METADATA_ADDRESSES:
        return "é o endereço do serviço de metadados da nuvem"
    if address.is_unspecified:
        return "é um endereço não especificado"
    if address.is_multicast:
        return "é um endereço de multicast"
    if allow_private:
        return None
    if address.is_loopback:
        return "é um endereço de loopback"
    if address.is_link_local:
        return "é um endereço link-local"
    if address.is_private:
        return "é um endereço de rede privada"
    if not address.is_global:
        return "não é um endereço público da internet"
    return None


@attrs.frozen(kw_only=True)
class WebhookTarget:
    """A URL that passed :func:`check_target_url`, split into what a connection needs."""

    url: str
    scheme: str
    #: Lower-case host name, or the IP address without brackets.
    host: str
    port: int
    #: The address when the URL names one instead of a host name.
    address: IPAddress | None


def _is_loopback_name(host: str) -> bool:
    return host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost")


def check_target_url(value: Any, *, allow_private: bool, field: str = "url") -> WebhookTarget:
    """Validate a webhook URL without any network access.

    HTTPS only. Plain HTTP is accepted for a loopback receiver when
    ``allow_private`` is set, because a local test receiver has no
    certificate. Addresses written in the URL are classified here; host
    names are classified after resolution, by the delivery adapter.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidWebhookEndpoint(
            "O campo 'url' é obrigatório e deve ser um endereço https://.", field=field
        )
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookEndpoint(
            f"O endereço pode ter no máximo {MAX_URL_LENGTH} caracteres.", field=field
        )

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidWebhookEndpoint(f"Endereço inválido: '{url}'.", field=field) from None
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"}:
        raise InvalidWebhookEndpoint(
            "O endereço do webhook deve começar com https://.", field=field
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookEndpoint(
            "O endereço não pode levar usuário e senha; use o segredo do webhook para "
            "autenticar as entregas.",
            field=field,
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidWebhookEndpoint(f"O endereço '{url}' não tem host.", field=field)

    address = _literal_address(host, url, field)
    if address is not None:
        reason = address_refusal(address, allow_private=allow_private)
        if reason is not None:
            raise WebhookTargetRefused(
                f"O endereço {address} não pode receber webhooks: {reason}.", field=field
            )
    elif host.rstrip(".") in METADATA_HOSTS:
        raise WebhookTargetRefused(
            f"O host '{host}' é o serviço de metadados da nuvem e não pode receber webhooks.",
            field=field,
        )
    elif _is_loopback_name(host) and not allow_private:
        raise WebhookTargetRefused(
            f"O host '{host}' é a própria máquina e não pode receber webhooks.", field=field
        )

    loopback = _is_loopback_name(host) if address is None else address.is_loopback
    if scheme == "http" and not (allow_private and loopback):
        raise InvalidWebhookEndpoint(
            "O endereço do webhook deve usar https://; http:// só vale para um receptor "
            "local em ambiente de desenvolvimento.",
            field=field,
        )

    if port is None:
        port = 443 if scheme == "https" else 80
    return WebhookTarget(url=url, scheme=scheme, host=host, port=port, address=address)


def _literal_address(host: str, url: str, field: str) -> IPAddress | None:
    """Return the address written as the URL's host, or None for a host name."""
    if "%" in host:
        raise InvalidWebhookEndpoint(
            f"O endereço '{url}' tem um identificador de zona IPv6, que não é aceito.",
            field=field,
        )
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        raise InvalidWebhookEndpoint(
            f"O host '{host}' parece um endereço IP fora da forma canônica; escreva o "
            "endereço como 203.0.113.10 ou use um nome de domínio.",
            field=field,
        )
    if not _HOST_NAME.match(host):
        raise InvalidWebhookEndpoint(
            f"O host '{host}' não é um nome de domínio válido; nomes com acento vão em "
            "punycode (xn--).",
            field=field,
        )
    return None


# --- signatures -----------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``"<timestamp>.<body>"``, keyed with the whole secret.

    The key is the secret exactly as shown at creation, ``whsec_`` prefix
    included, encoded as UTF-8.
    """
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """Build the ``Garimpo-Signature`` value: ``t=<unix seconds>,v1=<hex>``."""
    return f"t={timestamp},{SIGNATURE_VERSION}={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: int,
    tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """Tell whether ``header`` signs ``body`` with ``secret`` and is recent enough.

    ``body`` must be the raw bytes received, before any JSON parsing. Several
    ``v1`` values are accepted, so a receiver keeps working while a secret
    is replaced.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == SIGNATURE_VERSION:
            candidates.append(value)

    if timestamp is None or not candidates:
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# --- deliveries -----------------------------------------------------------------------


def retry_at(
    created_at: dt.datetime, attempted_at: dt.datetime, attempts: int, jitter: float
) -> dt.datetime | None:
    """When to try a delivery again after its failed attempt number ``attempts``.

    The step doubles from FIRST_RETRY_DELAY up to MAX_RETRY_DELAY; ``jitter``
    (in [0, 1)) picks a delay between half of the step and the whole step, so
    receivers that failed together are not retried together. Returns None
    once RETRY_WINDOW after the event has passed, and never a time beyond it.
    """
    deadline = created_at + RETRY_WINDOW
    if attempted_at >= deadline:
        return None
    # The exponent is capped long before the step could overflow a timedelta.
    step = min(FIRST_RETRY_DELAY * (1 << min(max(attempts - 1, 0), 20)), MAX_RETRY_DELAY)
    delay = step * (0.5 + min(max(jitter, 0.0), 1.0) / 2)
    return min(attempted_at + delay, deadline)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def event_envelope(
    event_id: str,
    event_type: str,
    tenant_id: str,
    occurred_at: dt.datetime,
    data: dict[str, Any],
) -> dict[str, Any]:
    """Build the JSON object that every delivery of an event carries as its body."""
    return {
        "id": event_id,
        "type": event_type,
        "created_at": occurred_at.isoformat(),
        "tenant_id": tenant_id,
        "data": data,
    }


def delivery_body(envelope: dict[str, Any]) -> bytes:
    """Serialise an event envelope the same way on every attempt (sorted keys, no spaces)."""
    return json.dumps(envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@attrs.frozen(kw_only=True)
class WebhookEndpoint:
    id: str
    tenant_id: str
    url: str
    events: tuple[str, ...]
    description: str | None
    created_at: dt.datetime
    disabled_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Render the endpoint for the API, without its secret, which is shown once at creation."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "removed_at": self.disabled_at.isoformat() if self.disabled_at else None,
        }


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    #: The event envelope sent as the body.
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        pending = self.status is DeliveryStatus.PENDING
        return {
            "id": self.id,
            "endpoint_id": self.endpoint_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status.value,
            "attempts": self.attempts,
            "next_attempt_at": (
                self.next_attempt_at.isoformat() if pending and self.next_attempt_at else None
            ),
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }
