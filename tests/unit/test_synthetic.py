"""Tests of the synthetic Receita CNPJ month generator.

Every file is parsed with Python's csv module the way ingestion reads the real
dump: ISO-8859-1, ``;`` separated, every field double-quoted, LF line ends.
"""

from __future__ import annotations

import collections
import csv
import io
import random
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.receita import synthetic
from adapters.receita.synthetic import FAULT_KINDS, FILE_KINDS, GeneratedMonth, generate_month
from domain.cnpj import Cnpj, check_digits
from domain.errors import InvalidCnpj

COLUMNS = {
    "companies": 7,
    "establishments": 30,
    "partners": 11,
    "simples": 7,
    "cnaes": 2,
    "reasons": 2,
    "municipalities": 2,
    "legal_natures": 2,
    "countries": 2,
    "qualifications": 2,
}

ZIP_PATTERNS = {
    "companies": r"Empresas\d\.zip",
    "establishments": r"Estabelecimentos\d\.zip",
    "partners": r"Socios\d\.zip",
    "simples": r"Simples\.zip",
    "cnaes": r"Cnaes\.zip",
    "reasons": r"Motivos\.zip",
    "municipalities": r"Municipios\.zip",
    "legal_natures": r"Naturezas\.zip",
    "countries": r"Paises\.zip",
    "qualifications": r"Qualificacoes\.zip",
}

# Member names as Receita's 2025 deliveries have them, for reference 2026-11.
MEMBER_PATTERNS = {
    "companies": r"K3241\.K03200Y\d\.D61108\.EMPRECSV",
    "establishments": r"K3241\.K03200Y\d\.D61108\.ESTABELE",
    "partners": r"K3241\.K03200Y\d\.D61108\.SOCIOCSV",
    "simples": r"F\.K03200\$W\.SIMPLES\.CSV\.D61108",
    "cnaes": r"F\.K03200\$Z\.D61108\.CNAECSV",
    "reasons": r"F\.K03200\$Z\.D61108\.MOTICSV",
    "municipalities": r"F\.K03200\$Z\.D61108\.MUNICCSV",
    "legal_natures": r"F\.K03200\$Z\.D61108\.NATJUCSV",
    "countries": r"F\.K03200\$Z\.D61108\.PAISCSV",
    "qualifications": r"F\.K03200\$Z\.D61108\.QUALSCSV",
}

SMALL = 2_000
LARGE = 20_000


def member_bytes(path: Path) -> bytes:
    """Return the CSV bytes of a generated file, zipped or plain."""
    if path.suffix != ".zip":
        return path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        (name,) = archive.namelist()
        return archive.read(name)


def parse(data: bytes) -> list[list[str]]:
    text = data.decode("latin-1")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def records(month: GeneratedMonth, kind: str) -> Iterator[list[str]]:
    for path in month.paths[kind]:
        yield from parse(member_bytes(path))


def cpf_is_valid(cpf: str) -> bool:
    """Validate an 11-digit CPF with the modulo-11 rule (weights 10..2, then 11..2)."""
    digits = [int(char) for char in cpf]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits[:length], range(length + 1, 1, -1), strict=True))
        remainder = total % 11
        expected = 0 if remainder < 2 else 11 - remainder
        if digits[length] != expected:
            return False
    return True


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> GeneratedMonth:
    return generate_month(tmp_path_factory.mktemp("zipped"), SMALL, seed=7)


@pytest.fixture(scope="module")
def large_month(tmp_path_factory: pytest.TempPathFactory) -> GeneratedMonth:
    return generate_month(tmp_path_factory.mktemp("large"), LARGE, seed=11, zipped=False)


@pytest.fixture(scope="module")
def faulty_month(tmp_path_factory: pytest.TempPathFactory) -> GeneratedMonth:
    return generate_month(tmp_path_factory.mktemp("faults"), SMALL, seed=5, faults=True)


@pytest.fixture(scope="module")
def large_establishments(large_month: GeneratedMonth) -> list[list[str]]:
    return list(records(large_month, "establishments"))


# ---------------------------------------------------------------------------
# Files and format
# ---------------------------------------------------------------------------


def test_zip_names_follow_receita(month: GeneratedMonth) -> None:
    for kind, pattern in ZIP_PATTERNS.items():
        expected_count = 10 if kind in ("companies", "establishments", "partners") else 1
        assert len(month.paths[kind]) == expected_count, kind
        for path in month.paths[kind]:
            assert re.fullmatch(pattern, path.name), path.name
            assert path.exists(), path


def test_zip_holds_one_member_named_like_receita(month: GeneratedMonth) -> None:
    for kind, pattern in MEMBER_PATTERNS.items():
        for index, path in enumerate(month.paths[kind]):
            with zipfile.ZipFile(path) as archive:
                infos = archive.infolist()
            assert len(infos) == 1, path
            assert re.fullmatch(pattern, infos[0].filename), infos[0].filename
            assert infos[0].compress_type == zipfile.ZIP_DEFLATED
            if kind in ("companies", "establishments", "partners"):
                assert f"Y{index}." in infos[0].filename


def test_plain_files_named_like_members(large_month: GeneratedMonth) -> None:
    for kind, pattern in MEMBER_PATTERNS.items():
        for path in large_month.paths[kind]:
            assert re.fullmatch(pattern, path.name), path.name
            assert path.exists(), path


def test_column_counts(month: GeneratedMonth) -> None:
    for kind, columns in COLUMNS.items():
        for row in records(month, kind):
            assert len(row) == columns, (kind, row)


def test_every_field_quoted_with_lf(month: GeneratedMonth) -> None:
    for kind in COLUMNS:
        for path in month.paths[kind]:
            data = member_bytes(path)
            assert b"\r" not in data, path
            assert data.endswith(b'"\n') or data == b"", path
            for line, row in zip(data.decode("latin-1").split("\n")[:-1], parse(data), strict=True):
                # No field contains a quote, so re-quoting every field must
                # rebuild the line exactly.
                assert line == '"' + '";"'.join(row) + '"', line


def test_latin1_accents_in_lookups(month: GeneratedMonth) -> None:
    data = member_bytes(month.paths["legal_natures"][0])
    assert "Empresário (Individual)".encode("latin-1") in data
    natures = dict(parse(data))
    assert natures["2135"] == "Empresário (Individual)"


def test_counts_match_written_records(month: GeneratedMonth) -> None:
    for kind in COLUMNS:
        assert month.rows[kind] == sum(1 for _ in records(month, kind)), kind
    assert month.establishments == SMALL
    assert set(month.rows) == set(FILE_KINDS)
    assert month.fault_count == 0


def test_month_summary_line(month: GeneratedMonth) -> None:
    summary = str(month)
    assert summary.startswith("2026-11 (D61108): ")
    assert f"{SMALL} establishments" in summary
    assert "\n" not in summary


def test_zero_establishments_writes_empty_parts(tmp_path: Path) -> None:
    empty = generate_month(tmp_path, 0)
    assert empty.companies == 0
    assert empty.establishments == 0
    assert all(member_bytes(path) == b"" for path in empty.paths["establishments"])
    assert empty.rows["cnaes"] > 100


# ---------------------------------------------------------------------------
# CNPJs and referential shape
# ---------------------------------------------------------------------------


def test_establishment_cnpjs_validate(month: GeneratedMonth) -> None:
    seen = set()
    for row in records(month, "establishments"):
        cnpj = Cnpj.from_parts(row[0], row[1], row[2])
        assert cnpj.value not in seen, cnpj
        seen.add(cnpj.value)
    assert len(seen) == SMALL


def test_company_partner_cnpjs_validate(large_month: GeneratedMonth) -> None:
    company_partners = [row for row in records(large_month, "partners") if row[1] == "1"]
    assert company_partners
    for row in company_partners:
        Cnpj(row[3])


def test_head_office_flag_matches_order(large_establishments: list[list[str]]) -> None:
    for row in large_establishments:
        assert row[3] == ("1" if row[1] == "0001" else "2"), row[:4]


def test_alphanumeric_roots_and_orders(large_establishments: list[list[str]]) -> None:
    alphanumeric = [row for row in large_establishments if not row[0].isdigit()]
    share = len(alphanumeric) / len(large_establishments)
    assert 0.015 < share < 0.05
    for row in alphanumeric:
        assert re.fullmatch(r"[0-9A-Z]{8}", row[0])
        assert re.fullmatch(r"\d{2}", row[2])
    assert any(not row[1].isdigit() for row in alphanumeric)


def test_fast_check_digits_match_domain() -> None:
    tables = synthetic._NumericCheckDigits()
    rng = random.Random(3)
    for _ in range(5_000):
        root = rng.randrange(10**8)
        order = rng.randrange(1, 10**4)
        expected = check_digits(f"{root:08d}{order:04d}")
        assert tables.digits(tables.root_sum(root), order) == expected


def test_every_row_belongs_to_a_company(month: GeneratedMonth) -> None:
    roots = [row[0] for row in records(month, "companies")]
    assert len(roots) == len(set(roots))
    known = set(roots)
    for kind in ("establishments", "partners", "simples"):
        for row in records(month, kind):
            assert row[0] in known, (kind, row[0])
    with_establishment = {row[0] for row in records(month, "establishments")}
    assert with_establishment == known


def test_individual_entrepreneurs_have_no_partners(month: GeneratedMonth) -> None:
    individual = {row[0] for row in records(month, "companies") if row[2] == "2135"}
    assert individual
    assert not individual & {row[0] for row in records(month, "partners")}


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(month: GeneratedMonth, tmp_path: Path) -> None:
    again = generate_month(tmp_path, SMALL, seed=7)
    for first, second in zip(month.files, again.files, strict=True):
        assert first.name == second.name
        assert first.read_bytes() == second.read_bytes(), first.name


def test_other_seed_differs(month: GeneratedMonth, tmp_path: Path) -> None:
    other = generate_month(tmp_path, SMALL, seed=8)
    for kind in ("companies", "establishments", "partners", "simples"):
        assert member_bytes(month.paths[kind][0]) != member_bytes(other.paths[kind][0]), kind


def test_worker_processes_give_identical_bytes(tmp_path: Path) -> None:
    single = generate_month(tmp_path / "single", 3_000, seed=4, workers=1)
    parallel = generate_month(tmp_path / "parallel", 3_000, seed=4, workers=2)
    assert single.rows == parallel.rows
    for first, second in zip(single.files, parallel.files, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name
    assert not [path for path in (tmp_path / "parallel").iterdir() if path.name.startswith(".")]


# ---------------------------------------------------------------------------
# Municipalities and lookups
# ---------------------------------------------------------------------------


def test_tabmun_format(month: GeneratedMonth) -> None:
    (path,) = month.paths["tabmun"]
    assert path.name == "tabmun.csv"
    lines = path.read_bytes().decode("latin-1").split("\r\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == month.rows["tabmun"]
    for line in lines[:-1]:
        tom, cnpj, name, uf, ibge = line.split(";")
        assert re.fullmatch(r"\d{4}", tom)
        Cnpj(cnpj)
        assert len(name) == 45
        assert name == name.rstrip().ljust(45)
        assert re.fullmatch(r"[A-Z]{2}", uf)
        assert re.fullmatch(r"\d{7}", ibge)


def test_sao_paulo_maps_to_ibge(month: GeneratedMonth) -> None:
    lines = month.paths["tabmun"][0].read_text(encoding="latin-1").splitlines()
    sao_paulo = [line.split(";") for line in lines if line.startswith("7107;")]
    assert len(sao_paulo) == 1
    assert sao_paulo[0][2].rstrip() == "SAO PAULO"
    assert sao_paulo[0][3:] == ["SP", "3550308"]


def test_municipalities_are_in_tabmun_with_uf(
    large_month: GeneratedMonth, large_establishments: list[list[str]]
) -> None:
    lines = large_month.paths["tabmun"][0].read_text(encoding="latin-1").splitlines()
    uf_by_tom = {line.split(";")[0]: line.split(";")[3] for line in lines}
    abroad = 0
    for row in large_establishments:
        uf, municipality = row[19], row[20]
        if uf == "EX":
            abroad += 1
            assert municipality == "9707"
            assert row[18] == ""
            assert re.fullmatch(r"\d{3}", row[9])
            assert row[9] != "105"
            continue
        assert uf_by_tom[municipality] == uf, row[:3]
    assert 0 < abroad < len(large_establishments) * 0.01


def test_all_states_with_sao_paulo_heaviest(large_establishments: list[list[str]]) -> None:
    by_uf = collections.Counter(row[19] for row in large_establishments)
    assert len(set(by_uf) - {"EX"}) == 27
    assert by_uf.most_common(1)[0][0] == "SP"


def test_codes_are_in_lookups(
    large_month: GeneratedMonth, large_establishments: list[list[str]]
) -> None:
    lookups = {
        kind: {row[0] for row in records(large_month, kind)}
        for kind in ("cnaes", "reasons", "municipalities", "legal_natures", "countries")
    }
    qualifications = {row[0] for row in records(large_month, "qualifications")}
    for row in large_establishments:
        assert row[11] in lookups["cnaes"]
        for code in filter(None, row[12].split(",")):
            assert code in lookups["cnaes"]
        # Reason 32 appears in real data but not in Receita's Motivos table.
        assert row[7] in lookups["reasons"] or row[7] == "32"
        assert row[9] == "" or row[9] in lookups["countries"]
        assert row[20] in lookups["municipalities"]
    for row in records(large_month, "companies"):
        assert row[2] in lookups["legal_natures"]
        assert row[3] in qualifications
    for row in records(large_month, "partners"):
        assert row[4] in qualifications
        assert row[9] in qualifications
        assert row[6] == "" or row[6] in lookups["countries"]


# ---------------------------------------------------------------------------
# Shape and quirks of real deliveries
# ---------------------------------------------------------------------------


def test_rows_per_establishment(large_month: GeneratedMonth) -> None:
    n = large_month.establishments
    assert 0.90 < large_month.companies / n < 1.0
    assert 1.10 < large_month.partners / n < 1.40
    assert 0.82 < large_month.simples / n < 0.98
    assert 3.9 < large_month.source_rows / n < 4.3


def test_branches_exist(large_establishments: list[list[str]]) -> None:
    orders = collections.Counter(row[1] for row in large_establishments)
    assert orders["0001"] / len(large_establishments) > 0.9
    assert orders["0002"] > 0


def test_status_porte_and_dates(
    large_month: GeneratedMonth, large_establishments: list[list[str]]
) -> None:
    statuses = collections.Counter(row[5] for row in large_establishments)
    assert set(statuses) == {"01", "02", "03", "04", "08"}
    assert statuses["08"] > statuses["04"] > statuses["03"]
    status_dates = {row[6] for row in large_establishments}
    assert {"0", "00000000", ""} <= status_dates
    sizes = {row[5] for row in records(large_month, "companies")}
    assert sizes == {"00", "01", "03", "05"}


def test_dates_not_after_extraction(large_establishments: list[list[str]]) -> None:
    for row in large_establishments:
        for value in (row[6], row[10]):
            if len(value) == 8 and value != "00000000":
                assert "19600101" <= value <= "20261108", row[:3]


def test_trade_names_and_secondary_cnaes(large_establishments: list[list[str]]) -> None:
    empty_names = sum(1 for row in large_establishments if row[4] == "")
    assert 0.4 < empty_names / len(large_establishments) < 0.7
    counts = collections.Counter(
        len(row[12].split(",")) if row[12] else 0 for row in large_establishments
    )
    assert all(counts[n] > 0 for n in range(7))
    for row in large_establishments:
        assert re.fullmatch(r"(\d{7}(,\d{7})*)?", row[12]), row[12]


def test_phone_quirks(large_establishments: list[list[str]]) -> None:
    pairs = [
        (row[column], row[column + 1])
        for row in large_establishments
        for column in (21, 23, 25)
        if row[column] or row[column + 1]
    ]
    numbers = [number for _, number in pairs]
    assert all(len(number) <= 8 for number in numbers)
    assert ("0", "0") in pairs
    assert ("0000", "00000000") in pairs
    assert any(len(ddd) > 2 and ddd.startswith("0") and ddd != "0000" for ddd, _ in pairs)
    assert any(len(number) == 7 for number in numbers)
    assert any(ddd == "" and number for ddd, number in pairs)
    mobiles = [n for n in numbers if len(n) == 8 and n[0] in "6789"]
    assert len(mobiles) / len(numbers) > 0.4


def test_email_quirks(large_establishments: list[list[str]]) -> None:
    emails = [row[27] for row in large_establishments if row[27]]
    assert any(email.isupper() for email in emails)
    assert any(email.islower() for email in emails)
    assert any(not email.isupper() and not email.islower() for email in emails)
    assert any(not re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]+", email) for email in emails)
    # Accountants' contacts: one e-mail and phone shared by many establishments.
    email, count = collections.Counter(emails).most_common(1)[0]
    assert count >= 100, email
    phones = collections.Counter((row[21], row[22]) for row in large_establishments if row[22])
    assert phones.most_common(2)[1][1] >= 100


def test_individual_names_end_with_valid_cpf(large_month: GeneratedMonth) -> None:
    individuals = [row for row in records(large_month, "companies") if row[2] == "2135"]
    with_cpf = [row[1][-11:] for row in individuals if re.search(r" \d{11}$", row[1])]
    assert len(with_cpf) / len(individuals) > 0.5
    assert all(cpf_is_valid(cpf) for cpf in with_cpf)
    assert all(row[3] == "50" for row in individuals)


def test_capital_uses_comma_decimals(large_month: GeneratedMonth) -> None:
    capitals = [row[4] for row in records(large_month, "companies")]
    assert all(re.fullmatch(r"\d+,\d{2}", value) for value in capitals)
    assert any(not value.endswith("000,00") and value != "0,00" for value in capitals)


def test_complement_quirks(large_establishments: list[list[str]]) -> None:
    complements = [row[16] for row in large_establishments]
    assert any(";" in value for value in complements)
    assert any(value.startswith("      ") for value in complements)


def test_partner_rows(large_month: GeneratedMonth) -> None:
    partners = list(records(large_month, "partners"))
    kinds = collections.Counter(row[1] for row in partners)
    assert kinds["2"] / len(partners) > 0.9
    assert kinds["1"] > 0
    assert kinds["3"] > 0
    for row in partners:
        if row[1] == "2":
            assert re.fullmatch(r"\*\*\*\d{6}\*\*", row[3])
        if row[1] == "3":
            assert row[3] == ""
            assert row[6] != ""
        assert re.fullmatch(r"\*\*\*\d{6}\*\*", row[7])
        assert row[10] in set("0123456789")
    placeholder = sum(1 for row in partners if row[7] == "***000000**")
    assert placeholder / len(partners) > 0.9


def test_simples_rows(large_month: GeneratedMonth) -> None:
    simples = list(records(large_month, "simples"))
    assert {row[1] for row in simples} == {"S", "N"}
    assert any(row[3] == "00000000" for row in simples)
    assert any(row[4] == "S" for row in simples)
    for row in simples:
        assert row[3] == "00000000" or row[3] >= row[2], row
        assert row[6] == "00000000" or row[6] >= row[5], row


# ---------------------------------------------------------------------------
# Broken records
# ---------------------------------------------------------------------------


def faults_by_kind(month: GeneratedMonth) -> dict[str, synthetic.InjectedFault]:
    return {fault.kind: fault for fault in month.faults}


def test_faults_cover_every_kind(faulty_month: GeneratedMonth) -> None:
    assert sorted(faults_by_kind(faulty_month)) == sorted(FAULT_KINDS)
    assert faulty_month.fault_count == len(FAULT_KINDS)


def test_fault_missing_field(faulty_month: GeneratedMonth) -> None:
    fault = faults_by_kind(faulty_month)["missing_field"]
    rows = [row for row in parse(member_bytes(fault.path)) if row and row[0] == fault.cnpj[:8]]
    assert [len(row) for row in rows] == [29]


def test_fault_line_break(faulty_month: GeneratedMonth) -> None:
    fault = faults_by_kind(faulty_month)["line_break"]
    rows = [row for row in parse(member_bytes(fault.path)) if row and row[0] == fault.cnpj[:8]]
    assert len(rows) == 1
    assert len(rows[0]) == 30
    assert "\n" in rows[0][4]


def test_fault_nul_byte(faulty_month: GeneratedMonth) -> None:
    fault = faults_by_kind(faulty_month)["nul_byte"]
    data = member_bytes(fault.path)
    assert data.count(b"\x00") == 1
    line = next(line for line in data.split(b"\n") if b"\x00" in line)
    assert line.startswith(f'"{fault.cnpj[:8]}"'.encode())


def test_fault_duplicate_row(faulty_month: GeneratedMonth) -> None:
    fault = faults_by_kind(faulty_month)["duplicate_row"]
    lines = [line for line in member_bytes(fault.path).split(b"\n") if line]
    duplicates = [line for line, count in collections.Counter(lines).items() if count > 1]
    assert len(duplicates) == 1
    assert duplicates[0].startswith(f'"{fault.cnpj[:8]}";"{fault.cnpj[8:12]}"'.encode())


def test_fault_invalid_check_digit(faulty_month: GeneratedMonth) -> None:
    fault = faults_by_kind(faulty_month)["invalid_check_digit"]
    with pytest.raises(InvalidCnpj):
        Cnpj(fault.cnpj)
    rows = [row for row in parse(member_bytes(fault.path)) if row and row[0] == fault.cnpj[:8]]
    assert len(rows) == 1
    assert len(rows[0]) == 30


def test_fault_trailing_empty_line(faulty_month: GeneratedMonth) -> None:
    fault = faults_by_kind(faulty_month)["trailing_empty_line"]
    assert fault.cnpj is None
    assert member_bytes(fault.path).endswith(b'"\n\n')


def test_fault_counts_match_records(faulty_month: GeneratedMonth) -> None:
    written = [row for row in records(faulty_month, "establishments") if row]
    assert faulty_month.establishments == len(written) == SMALL + 1
    broken = {fault.cnpj for fault in faulty_month.faults if fault.kind != "duplicate_row"}
    for row in written:
        cnpj = row[0] + row[1] + row[2]
        if cnpj not in broken:
            Cnpj(cnpj)


# ---------------------------------------------------------------------------
# Arguments and command line
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"reference": "2026-13"}, "invalid reference"),
        ({"reference": "nov/2026"}, "invalid reference"),
        ({"parts": 0}, "invalid parts"),
        ({"workers": 0}, "invalid workers"),
    ],
)
def test_invalid_arguments_raise(tmp_path: Path, arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_month(tmp_path, 10, **arguments)


def test_negative_establishments_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid establishments"):
        generate_month(tmp_path, -1)


def test_faults_need_five_establishments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 5"):
        generate_month(tmp_path, 4, faults=True)


def test_reference_sets_extraction_code(tmp_path: Path) -> None:
    month = generate_month(tmp_path, 50, reference="2025-07", parts=2)
    assert month.extraction_code == "D50708"
    with zipfile.ZipFile(month.paths["establishments"][1]) as archive:
        assert archive.namelist() == ["K3241.K03200Y1.D50708.ESTABELE"]


def test_cli_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = synthetic.main(
        [str(tmp_path), "--establishments", "500", "--seed", "3", "--plain", "--faults"]
    )
    assert exit_code == 0
    output = capsys.readouterr().out
    assert re.search(r"^establishments\s+501$", output, re.MULTILINE)
    assert re.search(r"^faults\s+6$", output, re.MULTILINE)
    assert (tmp_path / "K3241.K03200Y0.D61108.ESTABELE").exists()
