"""Rules of the credit domain that need no database: amounts, reasons, balances, coverage."""

from __future__ import annotations

import pytest

from application.credits import Coverage
from domain.credits import (
    MAX_CREDITS_PER_ENTRY,
    CreditBalance,
    EntryKind,
    InsufficientCredits,
    InvalidCreditOperation,
    credit_amount,
    credit_reason,
)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "3", None, MAX_CREDITS_PER_ENTRY + 1])
def test_grant_amount_refuses_what_is_not_a_positive_whole_number(value: object) -> None:
    with pytest.raises(InvalidCreditOperation) as refused:
        credit_amount(value)

    assert refused.value.field == "amount"
    assert refused.value.code == "invalid_credit_operation"


def test_adjustment_amount_may_be_negative_but_not_zero() -> None:
    assert credit_amount(-5, allow_negative=True) == -5
    with pytest.raises(InvalidCreditOperation, match="diferente de zero"):
        credit_amount(0, allow_negative=True)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_reason_is_mandatory_where_required(value: object) -> None:
    assert credit_reason(value, required=False) is None
    with pytest.raises(InvalidCreditOperation, match="motivo"):
        credit_reason(value, required=True)


def test_reason_is_trimmed_and_bounded() -> None:
    assert credit_reason("  Cortesia  ", required=True) == "Cortesia"
    with pytest.raises(InvalidCreditOperation, match="500"):
        credit_reason("x" * 501, required=True)


def test_available_is_the_balance_minus_the_held_credits() -> None:
    balance = CreditBalance(balance=10, held=4, pending_captures=2)

    assert balance.available == 6
    assert balance.to_json() == {"balance": 10, "held": 4, "available": 6, "pending_captures": 2}


@pytest.mark.parametrize(("requested", "available", "covered"), [(5, 3, 3), (2, 3, 2), (4, 0, 0)])
def test_coverage_is_capped_by_the_available_credits(
    requested: int, available: int, covered: int
) -> None:
    coverage = Coverage(requested=requested, balance=CreditBalance(balance=available, held=0))

    assert coverage.covered == covered
    assert coverage.to_json()["missing"] == requested - covered


def test_insufficient_credits_carries_the_numbers_for_the_problem_body() -> None:
    error = InsufficientCredits(available=3, requested=5, balance=7, held=4)

    assert error.code == "insufficient_credits"
    assert error.extensions == {"available": 3, "requested": 5, "balance": 7, "held": 4}
    assert "3 crédito(s)" in error.detail
    assert "precisa de 5" in error.detail
    assert "partial=true" not in error.detail


def test_insufficient_credits_for_a_qualification_suggests_a_partial_start() -> None:
    error = InsufficientCredits(available=3, requested=5, balance=3, held=0, qualification=True)

    assert "partial=true" in error.detail
    assert "pelos 3 primeiros" in error.detail


def test_every_kind_has_a_label_for_the_statement() -> None:
    assert {kind.label for kind in EntryKind} == {
        "Concessão",
        "Reserva",
        "Débito",
        "Liberação",
        "Estorno",
        "Ajuste",
        "Expiração",
    }
