"""The statement CSV as a spreadsheet in Brazilian Portuguese reads it: parsed back with ``csv``."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io

import pytest

from adapters.export.ledger_csv import (
    BOM,
    HEADERS,
    BrazilianCsv,
    LedgerCsv,
    export_filename,
    number_cell,
    text_cell,
)
from domain.credits import EntryKind, LedgerEntry

UTC = dt.UTC


def entry(seq: int, **overrides: object) -> LedgerEntry:
    values: dict[str, object] = {
        "id": f"00000000-0000-0000-0000-{seq:012d}",
        "tenant_id": "11111111-1111-1111-1111-111111111111",
        "seq": seq,
        "kind": EntryKind.GRANT,
        "amount": 100,
        "held_change": 0,
        "balance_before": 0,
        "balance_after": 100,
        "held_before": 0,
        "held_after": 0,
        "reason": "Compra de janeiro",
        "reference_type": "admin",
        "reference_id": "22222222-2222-2222-2222-222222222222",
        "reverses_entry_id": None,
        "idempotency_key": f"grant:{seq}",
        "actor_type": "account",
        "actor_id": "33333333-3333-3333-3333-333333333333",
        "actor_label": "ops@garimpo.com.br",
        # 02:30 UTC on 5 January is still 4 January in São Paulo (UTC-3).
        "created_at": dt.datetime(2027, 1, 5, 2, 30, 15, tzinfo=UTC),
    }
    values.update(overrides)
    return LedgerEntry(**values)  # type: ignore[arg-type]


def parse(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text[len(BOM) :], newline=""), delimiter=";"))


def export(entries: list[LedgerEntry], timezone: str = "America/Sao_Paulo") -> bytes:
    writer = LedgerCsv(timezone)
    return writer.header() + writer.rows(entries)


def test_file_starts_with_utf8_bom_once() -> None:
    data = export([entry(1), entry(2)])

    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\xef\xbb\xbf") == 1


def test_header_is_portuguese_and_semicolon_separated() -> None:
    data = export([])
    first_line = data.decode("utf-8").removeprefix(BOM).split("\r\n")[0]

    assert first_line.split(";") == list(HEADERS)
    assert first_line.startswith("Data;Hora;Nº;Tipo;Créditos")


def test_dates_are_day_month_year_in_tenant_timezone() -> None:
    rows = parse(export([entry(1)]))

    assert rows[1][0] == "04/01/2027"
    assert rows[1][1] == "23:30:15"


def test_other_timezone_moves_the_day() -> None:
    rows = parse(export([entry(1)], timezone="Asia/Tokyo"))

    assert rows[1][0] == "05/01/2027"
    assert rows[1][1] == "11:30:15"


def test_kind_is_written_as_its_label() -> None:
    rows = parse(export([entry(1), entry(2, kind=EntryKind.CAPTURE, amount=-1)]))

    assert rows[1][3] == "Concessão"
    assert rows[2][3] == "Débito"


def test_numbers_stay_numbers_even_when_negative() -> None:
    captured = entry(2, kind=EntryKind.CAPTURE, amount=-1, held_change=-1, balance_after=99)
    rows = parse(export([captured]))

    assert rows[1][4] == "-1"
    assert rows[1][5] == "-1"
    assert rows[1][7] == "99"


@pytest.mark.parametrize(
    ("reason", "cell"),
    [
        ('=HYPERLINK("http://exemplo.invalid")', '\'=HYPERLINK("http://exemplo.invalid")'),
        ("+55 11 99999-0000", "'+55 11 99999-0000"),
        ("-5 créditos por engano", "'-5 créditos por engano"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tTAB", "'\tTAB"),
        ("Ajuste normal", "Ajuste normal"),
    ],
)
def test_formula_in_free_text_is_neutralised(reason: str, cell: str) -> None:
    rows = parse(export([entry(1, reason=reason)]))

    assert rows[1][10] == cell


def test_actor_label_is_neutralised_too() -> None:
    rows = parse(export([entry(1, actor_label="=cmd|'/c calc'!A1")]))

    assert rows[1][13] == "'=cmd|'/c calc'!A1"


def test_semicolon_quote_and_newline_are_quoted() -> None:
    reason = 'Pedido "urgente"; pago\nem duas linhas'
    data = export([entry(1, reason=reason)])
    rows = parse(data)

    assert rows[1][10] == reason
    assert len(rows) == 2
    assert b'"Pedido ""urgente""; pago\nem duas linhas"' in data


def test_rows_end_with_crlf() -> None:
    data = export([entry(1)])

    assert data.endswith(b"\r\n")
    assert data.count(b"\r\n") == 2


def test_empty_cells_for_missing_values() -> None:
    rows = parse(export([entry(1, reason=None, reference_type=None, reference_id=None)]))

    assert rows[1][10] == ""
    assert rows[1][11] == ""
    assert rows[1][12] == ""


def test_reversal_points_at_the_reversed_entry() -> None:
    reversed_id = "44444444-4444-4444-4444-444444444444"
    rows = parse(export([entry(3, kind=EntryKind.REVERSAL, reverses_entry_id=reversed_id)]))

    assert rows[1][3] == "Estorno"
    assert rows[1][12] == reversed_id


def test_chunks_after_the_first_carry_no_bom() -> None:
    writer = LedgerCsv("America/Sao_Paulo")
    header = writer.header()
    first = writer.rows([entry(1)])
    second = writer.rows([entry(2)])

    assert header.startswith(b"\xef\xbb\xbf")
    assert not first.startswith(b"\xef\xbb\xbf")
    assert len(parse(header + first + second)) == 3


def test_decimal_uses_comma() -> None:
    assert number_cell(decimal.Decimal("1234.50")) == "1234,50"
    assert number_cell(0.1) == "0,1"
    assert number_cell(-2.25) == "-2,25"
    assert number_cell(42) == "42"


def test_decimal_cell_parses_back_with_comma() -> None:
    data = BrazilianCsv().chunk([["Valor", decimal.Decimal("10.5"), -3]])
    rows = parse(data)

    assert rows == [["Valor", "10,5", "-3"]]


def test_text_cell_leaves_plain_text_alone() -> None:
    assert text_cell("Concessão") == "Concessão"
    assert text_cell(None) == ""
    assert text_cell("") == ""


def test_filename_names_the_period() -> None:
    assert (
        export_filename(dt.date(2027, 1, 1), dt.date(2027, 1, 31))
        == "extrato-creditos-2027-01-01-2027-01-31.csv"
    )
    assert export_filename(None, dt.date(2027, 1, 31)) == "extrato-creditos-inicio-2027-01-31.csv"


def test_expiry_and_reference_read_in_portuguese() -> None:
    expires = dt.datetime(2027, 2, 1, 2, 59, tzinfo=UTC)
    granted = entry(1, reference_id="6f1c", expires_at=expires)

    rows = parse(export([granted]))

    assert rows[0][-1] == "Validade dos créditos"
    assert rows[1][11] == "Administrador 6f1c"
    assert rows[1][-1] == "31/01/2027 23:59:00"
