"""Write tiny CNPJ dump folders from Python rows, in Receita's exact file format.

Records are latin-1, ``;`` separated, every field wrapped in ``"`` (a quote
inside a field is doubled), one LF after each record and no header row. A row
given as ``bytes`` is written exactly as it is, so tests can write broken
records, NUL bytes or blank lines. Files are written plain or as a zip that
contains one member, under any file and member name.

The ``*_row`` helpers return a valid row of each fact file with neutral
defaults; keyword arguments named after Receita's columns (see
``adapters.receita.columns``) replace single fields.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from adapters.receita.columns import SOURCE_COLUMNS
from domain.cnpj import check_digits
from domain.ingestion import FileKind

Row = Sequence[str] | bytes

#: Extraction code in the member names below: D + last digit of the year + MMDD (2025-07-12).
EXTRACTION_CODE = "D50712"

#: File names of each kind as Receita has published them since 2022: the zip
#: name and the mainframe name of the one member inside it.
FILE_NAMES: dict[FileKind, tuple[str, str]] = {
    FileKind.ESTABLISHMENT: ("Estabelecimentos0.zip", f"K3241.K03200Y0.{EXTRACTION_CODE}.ESTABELE"),
    FileKind.COMPANY: ("Empresas0.zip", f"K3241.K03200Y0.{EXTRACTION_CODE}.EMPRECSV"),
    FileKind.PARTNER: ("Socios0.zip", f"K3241.K03200Y0.{EXTRACTION_CODE}.SOCIOCSV"),
    FileKind.SIMPLES: ("Simples.zip", f"F.K03200$W.SIMPLES.CSV.{EXTRACTION_CODE}"),
    FileKind.CNAE: ("Cnaes.zip", f"F.K03200$Z.{EXTRACTION_CODE}.CNAECSV"),
    FileKind.STATUS_REASON: ("Motivos.zip", f"F.K03200$Z.{EXTRACTION_CODE}.MOTICSV"),
    FileKind.MUNICIPALITY: ("Municipios.zip", f"F.K03200$Z.{EXTRACTION_CODE}.MUNICCSV"),
    FileKind.LEGAL_NATURE: ("Naturezas.zip", f"F.K03200$Z.{EXTRACTION_CODE}.NATJUCSV"),
    FileKind.COUNTRY: ("Paises.zip", f"F.K03200$Z.{EXTRACTION_CODE}.PAISCSV"),
    FileKind.PARTNER_QUALIFICATION: ("Qualificacoes.zip", f"F.K03200$Z.{EXTRACTION_CODE}.QUALSCSV"),
}

#: Width of the name column in the Tesouro Nacional municipality table.
TESOURO_NAME_WIDTH = 50


def encode_record(fields: Sequence[str]) -> bytes:
    """Encode one record as Receita writes it: quoted fields, ``;``, LF, latin-1."""
    quoted = ";".join('"' + field.replace('"', '""') + '"' for field in fields)
    return (quoted + "\n").encode("latin-1")


def encode_rows(rows: Iterable[Row]) -> bytes:
    """Encode every row: field sequences as records, bytes as they are."""
    return b"".join(row if isinstance(row, bytes) else encode_record(row) for row in rows)


def write_file(folder: Path, name: str, rows: Iterable[Row], *, member: str | None = None) -> Path:
    """Write ``rows`` to ``folder / name``, or with ``member`` to a zip containing that one member.

    Returns the path of the written file. Missing parent folders are created.
    """
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = encode_rows(rows)
    if member is None:
        path.write_bytes(payload)
    else:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(member, payload)
    return path


def write_month(
    folder: Path, rows: Mapping[FileKind, Iterable[Row]], *, zipped: bool = False
) -> dict[FileKind, Path]:
    """Write one file per kind under the names in ``FILE_NAMES``, plain or zipped.

    A plain file takes the member name, as when a delivery is unzipped.
    Returns the written path of each kind.
    """
    written: dict[FileKind, Path] = {}
    for kind, kind_rows in rows.items():
        zip_name, member = FILE_NAMES[kind]
        if zipped:
            written[kind] = write_file(folder, zip_name, kind_rows, member=member)
        else:
            written[kind] = write_file(folder, member, kind_rows)
    return written


def tesouro_table_bytes(headed_csv: Path, *, leave_out: Collection[str] = ()) -> bytes:
    """Rewrite a headed TOM-to-IBGE CSV in the Tesouro layout, leaving out some TOM codes.

    The input has the columns ``codigo_tom``, ``cnpj_prefeitura``, ``nome``,
    ``uf`` and ``codigo_ibge``. The output is what the Tesouro Nacional
    publishes: ``TOM;CNPJ;name padded with spaces;UF;IBGE``, no header, CRLF,
    latin-1.
    """
    lines = []
    with headed_csv.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            if record["codigo_tom"] in leave_out:
                continue
            name = record["nome"].ljust(TESOURO_NAME_WIDTH)
            lines.append(
                f"{record['codigo_tom']};{record['cnpj_prefeitura']};{name};"
                f"{record['uf']};{record['codigo_ibge']}\r\n"
            )
    return "".join(lines).encode("latin-1")


def valid_cnpj(root: str, order: str = "0001") -> tuple[str, str, str]:
    """Return ``(root, order, check digits)`` of a CNPJ with correct check digits."""
    return root, order, check_digits(root + order)


def _row(kind: FileKind, defaults: dict[str, str], fields: dict[str, str]) -> list[str]:
    columns = SOURCE_COLUMNS[kind]
    unknown = sorted(set(fields) - set(columns))
    if unknown:
        raise KeyError(f"not columns of the {kind.value} file: {', '.join(unknown)}")
    values = {**defaults, **fields}
    return [values.get(column, "") for column in columns]


def establishment_row(root: str, order: str = "0001", **fields: str) -> list[str]:
    """Return the 30 fields of an active head office in São Paulo with valid check digits."""
    root, order, digits = valid_cnpj(root, order)
    defaults = {
        "cnpj_basico": root,
        "cnpj_ordem": order,
        "cnpj_dv": digits,
        "identificador_matriz_filial": "1" if order == "0001" else "2",
        "situacao_cadastral": "02",
        "data_situacao_cadastral": "20200101",
        "motivo_situacao_cadastral": "00",
        "data_inicio_atividade": "20100315",
        "cnae_fiscal_principal": "6204000",
        "tipo_logradouro": "RUA",
        "logradouro": "DAS FLORES",
        "numero": "100",
        "bairro": "CENTRO",
        "cep": "01001000",
        "uf": "SP",
        "municipio": "7107",
    }
    return _row(FileKind.ESTABLISHMENT, defaults, fields)


def company_row(root: str, **fields: str) -> list[str]:
    """Return the 7 fields of a limited company (natureza 2062) with no share capital."""
    defaults = {
        "cnpj_basico": root,
        "razao_social": f"EMPRESA {root} LTDA",
        "natureza_juridica": "2062",
        "qualificacao_responsavel": "49",
        "capital_social": "0,00",
        "porte": "01",
    }
    return _row(FileKind.COMPANY, defaults, fields)


def partner_row(root: str, **fields: str) -> list[str]:
    """Return the 11 fields of a natural-person partner without a legal representative."""
    defaults = {
        "cnpj_basico": root,
        "identificador_socio": "2",
        "nome_socio": "FULANO DE TAL",
        "cnpj_cpf_socio": "***123456**",
        "qualificacao_socio": "49",
        "data_entrada_sociedade": "20100315",
        "representante_legal": "***000000**",
        "qualificacao_representante_legal": "00",
        "faixa_etaria": "4",
    }
    return _row(FileKind.PARTNER, defaults, fields)


def simples_row(root: str, **fields: str) -> list[str]:
    """Return the 7 fields of a company in the Simples Nacional and not MEI."""
    defaults = {
        "cnpj_basico": root,
        "opcao_pelo_simples": "S",
        "data_opcao_pelo_simples": "20100315",
        "data_exclusao_do_simples": "00000000",
        "opcao_pelo_mei": "N",
        "data_opcao_pelo_mei": "00000000",
        "data_exclusao_do_mei": "00000000",
    }
    return _row(FileKind.SIMPLES, defaults, fields)
