"""Credits: the ledger of what a tenant bought, promised and spent.

A tenant's balance is the credits it owns. The held credits are promised to
qualifications in progress, one per pre-lead, and the available credits for
new work are the difference. Only a pre-lead classified QUALIFIED spends a
credit.

Every change is one ledger entry, never edited: a mistake is corrected with
a reversal, a new entry that points at the one it undoes.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs

from domain.errors import Conflict, DomainError, NotFound

#: A grant or adjustment larger than this is a typo, not a purchase.
MAX_CREDITS_PER_ENTRY = 10_000_000
#: Holds not settled by then are released, so a stuck job cannot keep credits forever.
DEFAULT_HOLD_LIFETIME = dt.timedelta(days=7)
MAX_REASON_LENGTH = 500


class EntryKind(enum.StrEnum):
    GRANT = "grant"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"
    EXPIRY = "expiry"

    @property
    def label(self) -> str:
        """Name of the kind in the tenant's statement."""
        return _KIND_LABELS[self]


_KIND_LABELS = {
    EntryKind.GRANT: "Concessão",
    EntryKind.HOLD: "Reserva",
    EntryKind.CAPTURE: "Débito",
    EntryKind.RELEASE: "Liberação",
    EntryKind.REVERSAL: "Estorno",
    EntryKind.ADJUSTMENT: "Ajuste",
    EntryKind.EXPIRY: "Expiração",
}

#: Names of the records an entry's reference points at, as the tenant's statement shows them.
REFERENCE_LABELS = {
    "admin": "Administrador",
    "entry": "Lançamento",
    "prelead": "Pré-lead",
    "invoice": "Fatura",
}


class InvalidCreditOperation(DomainError):
    code = "invalid_credit_operation"


class InsufficientCredits(Conflict):
    """Raised when the available credits do not cover what was asked.

    ``available`` and ``requested`` travel in the problem body, so a client can
    offer to start with the pre-leads the balance covers.
    """

    code = "insufficient_credits"

    def __init__(
        self,
        *,
        available: int,
        requested: int,
        balance: int,
        held: int,
        qualification: bool = False,
    ) -> None:
        if not qualification:
            advice = "Créditos reservados para qualificações em andamento não podem ser retirados."
        elif available == 0:
            advice = "Compre créditos para começar a qualificação."
        else:
            advice = (
                "Compre créditos ou reduza a seleção; com partial=true no corpo da requisição a "
                f"qualificação começa pelos {available} primeiros."
            )
        super().__init__(
            f"Saldo insuficiente: há {available} crédito(s) disponível(is) e a operação "
            f"precisa de {requested}. {advice}"
        )
        self.available = available
        self.requested = requested
        self.extensions = {
            "available": available,
            "requested": requested,
            "balance": balance,
            "held": held,
        }


class EntryNotFound(NotFound):
    code = "credit_entry_not_found"

    def __init__(self) -> None:
        super().__init__("Lançamento não encontrado.", field="entry_id")


class EntryNotReversible(Conflict):
    code = "credit_entry_not_reversible"


class EntryAlreadyReversed(Conflict):
    code = "credit_entry_already_reversed"

    def __init__(self) -> None:
        super().__init__("Este lançamento já foi estornado.", field="entry_id")


class IdempotencyKeyReused(Conflict):
    """Raised when a grant's idempotency key comes back with a different amount or reason."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "Esta Idempotency-Key já foi usada numa concessão com outra quantidade ou outro "
            "motivo. Para uma concessão diferente, use uma chave nova.",
            field="Idempotency-Key",
        )


class PreLeadNotFound(NotFound):
    code = "prelead_not_found"

    def __init__(self) -> None:
        super().__init__("Pré-lead não encontrado.", field="prelead_id")


def credit_amount(value: Any, *, field: str = "amount", allow_negative: bool = False) -> int:
    """Validate a number of credits typed by a person: a whole number, not zero, not absurd."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidCreditOperation(
            "A quantidade de créditos deve ser um número inteiro.", field=field
        )
    if value == 0 or (value < 0 and not allow_negative):
        expected = "diferente de zero" if allow_negative else "maior que zero"
        raise InvalidCreditOperation(f"A quantidade de créditos deve ser {expected}.", field=field)
    if abs(value) > MAX_CREDITS_PER_ENTRY:
        raise InvalidCreditOperation(
            f"A quantidade de créditos passa do limite de {MAX_CREDITS_PER_ENTRY} por lançamento.",
            field=field,
        )
    return value


def credit_reason(value: Any, *, required: bool, field: str = "reason") -> str | None:
    """Validate the reason of a manual entry: mandatory for adjustments and reversals."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidCreditOperation("Informe o motivo do lançamento.", field=field)
        return None
    if not isinstance(value, str):
        raise InvalidCreditOperation("O motivo deve ser um texto.", field=field)
    reason = value.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidCreditOperation(
            f"O motivo passa de {MAX_REASON_LENGTH} caracteres.", field=field
        )
    return reason


@attrs.frozen(kw_only=True)
class CreditBalance:
    balance: int
    held: int
    #: Qualified pre-leads waiting for a credit to be charged.
    pending_captures: int = 0

    @property
    def available(self) -> int:
        return self.balance - self.held

    def to_json(self) -> dict[str, Any]:
        return {
            "balance": self.balance,
            "held": self.held,
            "available": self.available,
            "pending_captures": self.pending_captures,
        }


@attrs.frozen(kw_only=True)
class LedgerEntry:
    id: str
    tenant_id: str
    #: 1, 2, 3... per tenant, without gaps.
    seq: int
    kind: EntryKind
    #: Change to the balance (negative for a debit).
    amount: int
    #: Change to the held credits.
    held_change: int
    balance_before: int
    balance_after: int
    held_before: int
    held_after: int
    reason: str | None
    reference_type: str | None
    reference_id: str | None
    reverses_entry_id: str | None
    idempotency_key: str
    actor_type: str
    actor_id: str | None
    actor_label: str | None
    created_at: dt.datetime
    #: When the credits of a grant expire; None for credits that do not.
    expires_at: dt.datetime | None = None

    @property
    def available_after(self) -> int:
        return self.balance_after - self.held_after

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "kind": self.kind.value,
            "amount": self.amount,
            "held_change": self.held_change,
            "balance_before": self.balance_before,
            "balance_after": self.balance_after,
            "held_before": self.held_before,
            "held_after": self.held_after,
            "available_after": self.available_after,
            "reason": self.reason,
            "reference": (
                {"type": self.reference_type, "id": self.reference_id}
                if self.reference_type
                else None
            ),
            "reverses_entry_id": self.reverses_entry_id,
            "idempotency_key": self.idempotency_key,
            "actor": {"type": self.actor_type, "id": self.actor_id, "label": self.actor_label},
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@attrs.frozen(kw_only=True)
class HoldResult:
    """Result of starting a qualification: each pre-lead's hold and the available credits around it."""

    held: tuple[str, ...]
    already_held: tuple[str, ...]
    not_covered: tuple[str, ...]
    available_before: int
    available_after: int

    def to_json(self) -> dict[str, Any]:
        return {
            "held": len(self.held),
            "already_held": len(self.already_held),
            "not_covered": list(self.not_covered),
            "available_before": self.available_before,
            "available_after": self.available_after,
        }


class CaptureStatus(enum.StrEnum):
    CAPTURED = "captured"
    CAPTURED_WITHOUT_HOLD = "captured_without_hold"
    ALREADY_CAPTURED = "already_captured"
    #: No hold and no available credit: the lead waits, charged when credits arrive.
    PENDING_CREDIT = "pending_credit"


class ReleaseStatus(enum.StrEnum):
    RELEASED = "released"
    NO_OPEN_HOLD = "no_open_hold"


class ReleaseReason(enum.StrEnum):
    """Why a hold ended without a charge: every outcome but QUALIFIED, or the job's end."""

    NOT_INTERESTED = "not_interested"
    INVALID = "invalid"
    OPT_OUT = "opt_out"
    NO_ANSWER = "no_answer"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
