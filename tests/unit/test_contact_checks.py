"""Phone and e-mail checks of a lead's contacts, on the real libraries."""

from __future__ import annotations

import pytest

from adapters.contacts.checker import LibraryContactChecker
from domain.contacts import EmailProblem, PhoneKind, PhoneProblem, whatsapp_candidates

CHECKER = LibraryContactChecker()


@pytest.mark.parametrize(
    ("raw", "e164", "kind"),
    [
        ("(41) 98765-4321", "+5541987654321", PhoneKind.MOBILE),
        ("+55 41 98765-4321", "+5541987654321", PhoneKind.MOBILE),
        ("41 3333-4444", "+554133334444", PhoneKind.LANDLINE),
        ("011 3000-1000", "+551130001000", PhoneKind.LANDLINE),
        ("+1 650 253 0000", "+16502530000", PhoneKind.OTHER),
    ],
)
def test_phone_is_normalised_to_e164_and_classified(raw: str, e164: str, kind: PhoneKind) -> None:
    checked = CHECKER.phone(raw)

    assert checked.e164 == e164
    assert checked.kind is kind
    assert checked.usable


def test_whatsapp_is_unknown_until_a_send_proves_it() -> None:
    assert CHECKER.phone("(41) 98765-4321").whatsapp is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("abc", PhoneProblem.UNPARSEABLE),
        ("(41) 1234", PhoneProblem.INVALID),
        ("", PhoneProblem.UNPARSEABLE),
    ],
)
def test_bad_phone_is_flagged(raw: str, problem: PhoneProblem) -> None:
    checked = CHECKER.phone(raw)

    assert checked.problem is problem
    assert checked.e164 is None
    assert not checked.usable


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("joao..silva@empresa.com.br", "dois pontos seguidos"),
        ("joao.@empresa.com.br", "ponto logo antes do @"),
        ("joao@empresa.com.br.", "terminar com ponto"),
        ("joao.empresa.com.br", "precisa ter um @"),
    ],
)
def test_email_syntax_errors_are_explained_in_portuguese(raw: str, detail: str) -> None:
    checked = CHECKER.email(raw)

    assert checked.problem is EmailProblem.INVALID_SYNTAX
    assert checked.normalized is None
    assert checked.detail is not None and detail in checked.detail


def test_valid_email_lowers_only_the_domain() -> None:
    checked = CHECKER.email("  Joao.Silva@Empresa.COM.BR ")

    assert checked.usable
    assert checked.normalized == "Joao.Silva@empresa.com.br"


@pytest.mark.parametrize("raw", ["lead@mailinator.com", "lead@sub.mailinator.com"])
def test_disposable_domain_is_flagged(raw: str) -> None:
    checked = CHECKER.email(raw)

    assert checked.problem is EmailProblem.DISPOSABLE_DOMAIN
    assert checked.normalized is not None
    assert not checked.usable


def test_ordinary_domain_is_not_disposable() -> None:
    assert CHECKER.email("contato@empresa.com.br").problem is None


def test_whatsapp_mobile_id_gains_ninth_digit() -> None:
    assert whatsapp_candidates("554187654321") == ("+554187654321", "+5541987654321")


def test_whatsapp_landline_id_stays_as_is() -> None:
    assert whatsapp_candidates("554133334444") == ("+554133334444",)


def test_whatsapp_id_with_ninth_digit_stays() -> None:
    assert whatsapp_candidates("5541987654321") == ("+5541987654321",)
