"""Parse one dump file into normalised Arrow chunks ready for COPY.

Arrow's C++ CSV reader does the parsing (quotes, ``;`` inside quotes, line
breaks inside quotes, wrong column counts) and pyarrow.compute the
normalisation, so no Python code runs per row except for rejected rows.

A chunk is one block of ``chunk_bytes`` decoded bytes. For the same file and
block size the reader cuts the same chunks every time, which is what lets a
crashed run skip the chunks it had committed and resume.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from adapters.receita import normalize as nz
from adapters.receita.columns import source_columns
from adapters.receita.files import DumpFile, Utf8Stream
from adapters.receita.memory import pin_mmap_threshold, release_free_memory
from domain.ingestion import FileKind, QuarantineReason
from domain.municipality import UFS
from domain.normalization import CPF_MASK

#: An 11-digit run standing alone, plain or punctuated: a CPF. No other Receita
#: field has exactly 11 digits (CNPJs have 14, phones at most 9, dates 8).
_CPF_IN_RAW = re.compile(r"(?<![0-9])(?:[0-9]{11}|[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2})(?![0-9])")

_CNPJ_ROOT_PATTERN = "^[0-9A-Z]{8}$"
_CNPJ_PATTERN = "^[0-9A-Z]{12}[0-9]{2}$"
_SECONDARY_CNAES_PATTERN = r"^[0-9]{7}(,[0-9]{7})*$"

_FIRST_WEIGHTS = np.array([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)
_SECOND_WEIGHTS = np.array([6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)


@attrs.frozen
class QuarantinedRow:
    #: Record number in the file, counting from 1; blank lines are not records.
    line: int | None
    raw: str
    reason: QuarantineReason
    detail: str | None = None


@attrs.frozen
class ParsedChunk:
    index: int
    #: Target table's column names, in the order of the payload.
    columns: tuple[str, ...]
    #: Normalised rows ready to store.
    rows_loaded: int
    quarantined: tuple[QuarantinedRow, ...]
    #: Records the parser produced for this chunk: loaded candidates plus quarantined.
    rows_read: int
    #: Fact rows as PostgreSQL CSV (strings quoted, NULL unquoted and empty),
    #: serialised in the reader's thread so COPY only has to send bytes. The
    #: Arrow table is not kept, which bounds a queued chunk to its payload.
    csv_payload: pa.Buffer | None = attrs.field(default=None, repr=False)
    #: Lookup rows as dicts; lookups are merged row by row, not copied.
    lookup_rows: tuple[dict[str, Any], ...] = attrs.field(default=(), repr=False)


def _chunk(
    index: int,
    table: pa.Table,
    kind: FileKind,
    quarantined: tuple[QuarantinedRow, ...],
    rows_read: int,
) -> ParsedChunk:
    return ParsedChunk(
        index=index,
        columns=tuple(table.column_names),
        rows_loaded=table.num_rows,
        quarantined=quarantined,
        rows_read=rows_read,
        csv_payload=None if kind.is_lookup else _to_csv(table),
        lookup_rows=tuple(table.to_pylist()) if kind.is_lookup else (),
    )


class ChunkReader:
    """Iterate the chunks of one dump file; call from a worker thread, it blocks."""

    def __init__(
        self,
        dump_file: DumpFile,
        file_id: int,
        *,
        chunk_bytes: int,
        tom_to_ibge: Mapping[str, str | None] | None = None,
        tom_to_uf: Mapping[str, str] | None = None,
    ) -> None:
        self.dump_file = dump_file
        self.file_id = file_id
        self.chunk_bytes = chunk_bytes
        self._stream: Utf8Stream | None = None
        self._final_nul_bytes = 0
        self._final_bytes_read = 0
        mapping = tom_to_ibge or {}
        self._tom_codes = pa.array(list(mapping.keys()), type=pa.string())
        self._ibge_codes = pa.array(list(mapping.values()), type=pa.string())
        ufs = tom_to_uf or {}
        self._uf_by_tom = pa.array([ufs.get(code) for code in mapping], type=pa.string())
        self._columns = source_columns(dump_file.kind)

    def chunks(self, skip: int = 0) -> Iterator[ParsedChunk]:
        """Yield the file's chunks in order, parsing but not normalising the first ``skip``."""
        invalid_numbers: list[int] = []
        pending_invalid: list[QuarantinedRow] = []

        def on_invalid_row(row: Any) -> str:
            # With use_threads=False Arrow numbers records; it reports rows
            # with the wrong number of columns here and then skips them.
            invalid_numbers.append(row.number)
            pending_invalid.append(
                QuarantinedRow(
                    line=row.number,
                    raw=mask_cpfs(row.text),
                    reason=QuarantineReason.WRONG_COLUMN_COUNT,
                    detail=f"expected {row.expected_columns} columns, found {row.actual_columns}",
                )
            )
            return "skip"

        stream = Utf8Stream(self.dump_file.open_binary())
        self._stream = stream
        good_rows_before = 0
        index = -1
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    column_names=list(self._columns),
                    block_size=_block_size(self.dump_file.kind, self.chunk_bytes),
                    use_threads=False,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=";",
                    quote_char='"',
                    double_quote=True,
                    newlines_in_values=True,
                    ignore_empty_lines=True,
                    invalid_row_handler=on_invalid_row,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in self._columns},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            pin_mmap_threshold()
            for index, batch in enumerate(reader):
                release_free_memory()
                quarantined_here = tuple(pending_invalid)
                pending_invalid.clear()
                first_ordinal = good_rows_before + 1
                good_rows_before += batch.num_rows
                if index < skip:
                    continue
                yield self._parse_batch(
                    index, batch, first_ordinal, quarantined_here, invalid_numbers
                )

            if pending_invalid and index + 1 >= skip:
                # Rejected records after the last good one still need a chunk.
                yield _chunk(
                    index + 1,
                    _empty_table(self.dump_file.kind),
                    self.dump_file.kind,
                    tuple(pending_invalid),
                    len(pending_invalid),
                )
        finally:
            self._final_nul_bytes = stream.nul_bytes
            self._final_bytes_read = stream.bytes_read
            self._stream = None
            stream.close()

    @property
    def nul_bytes(self) -> int:
        """NUL bytes removed so far from the file (they break every CSV parser)."""
        return self._stream.nul_bytes if self._stream else self._final_nul_bytes

    @property
    def bytes_read(self) -> int:
        """Uncompressed bytes read so far, for progress reporting."""
        return self._stream.bytes_read if self._stream else self._final_bytes_read

    def _parse_batch(
        self,
        index: int,
        batch: pa.RecordBatch,
        first_ordinal: int,
        parser_rejects: tuple[QuarantinedRow, ...],
        invalid_numbers: list[int],
    ) -> ParsedChunk:
        source = pa.Table.from_batches([batch])
        ordinals = pa.array(
            np.arange(first_ordinal, first_ordinal + batch.num_rows, dtype=np.int64)
        )
        lines = pa.array(_record_numbers(ordinals.to_numpy(), invalid_numbers), type=pa.int32())

        kind = self.dump_file.kind
        rejects, keep = self._validate_keys(source)
        quarantined = list(parser_rejects)
        if rejects:
            for mask, reason, detail in rejects:
                quarantined.extend(_quarantine_rows(source, lines, mask, reason, detail))
            source = source.filter(keep)
            lines = pc.filter(lines, keep)

        if kind is FileKind.ESTABLISHMENT:
            table = _establishments(source, self._tom_codes, self._ibge_codes)
        elif kind is FileKind.COMPANY:
            table = _companies(source)
        elif kind is FileKind.PARTNER:
            table = _partners(source)
        elif kind is FileKind.SIMPLES:
            table = _simples(source)
        elif kind is FileKind.MUNICIPALITY:
            table = _municipalities(source, self._tom_codes, self._ibge_codes, self._uf_by_tom)
        else:
            table = _lookup(source)

        if not kind.is_lookup:
            table = table.append_column(
                "source_file_id", pa.array(np.full(table.num_rows, self.file_id, dtype=np.int16))
            ).append_column("source_line", lines)

        return _chunk(index, table, kind, tuple(quarantined), batch.num_rows + len(parser_rejects))

    def _validate_keys(
        self, source: pa.Table
    ) -> tuple[list[tuple[pa.Array, QuarantineReason, str]], pa.Array]:
        """Find rows whose key can't be stored: a malformed CNPJ or an unknown UF."""
        kind = self.dump_file.kind
        if kind.is_lookup:
            empty_code = pc.equal(pc.utf8_trim_whitespace(source["codigo"]), "")
            rejects = [(empty_code, QuarantineReason.MISSING_CODE, "lookup row without a code")]
            return _only_nonempty(rejects, source.num_rows)

        root = pc.utf8_trim_whitespace(source["cnpj_basico"])
        if kind is not FileKind.ESTABLISHMENT:
            bad_root = pc.invert(pc.match_substring_regex(root, _CNPJ_ROOT_PATTERN))
            rejects = [
                (bad_root, QuarantineReason.INVALID_CNPJ, "CNPJ root must be 8 characters 0-9/A-Z")
            ]
            return _only_nonempty(rejects, source.num_rows)

        cnpj = pc.binary_join_element_wise(
            root,
            pc.utf8_trim_whitespace(source["cnpj_ordem"]),
            pc.utf8_trim_whitespace(source["cnpj_dv"]),
            "",
        )
        bad_shape = pc.invert(pc.match_substring_regex(cnpj, _CNPJ_PATTERN))
        bad_digits = pc.and_(pc.invert(bad_shape), pc.invert(_check_digits_ok(cnpj, bad_shape)))
        bad_uf = pc.and_(
            pc.invert(pc.or_(bad_shape, bad_digits)),
            pc.invert(pc.is_in(pc.utf8_trim_whitespace(source["uf"]), pa.array(sorted(UFS)))),
        )
        rejects = [
            (
                bad_shape,
                QuarantineReason.INVALID_CNPJ,
                "CNPJ must be 12 characters 0-9/A-Z and 2 digits",
            ),
            (
                bad_digits,
                QuarantineReason.INVALID_CNPJ_CHECK_DIGITS,
                "CNPJ check digits do not match",
            ),
            (bad_uf, QuarantineReason.INVALID_UF, "UF is not one of the 27 states or EX"),
        ]
        return _only_nonempty(rejects, source.num_rows)


def _establishments(source: pa.Table, tom_codes: pa.Array, ibge_codes: pa.Array) -> pa.Table:
    col = source.column
    flags: list[tuple[str, pa.Array]] = []

    root = pc.utf8_trim_whitespace(col("cnpj_basico"))
    cnpj = pc.binary_join_element_wise(
        root,
        pc.utf8_trim_whitespace(col("cnpj_ordem")),
        pc.utf8_trim_whitespace(col("cnpj_dv")),
        "",
    )

    status_date, bad = nz.parse_receita_dates(col("data_situacao_cadastral"))
    flags.append(("invalid_status_date", bad))
    opening_date, bad = nz.parse_receita_dates(col("data_inicio_atividade"))
    flags.append(("invalid_opening_date", bad))
    special_date, bad = nz.parse_receita_dates(col("data_situacao_especial"))
    flags.append(("invalid_special_status_date", bad))

    secondary, bad = _secondary_cnaes(col("cnae_fiscal_secundaria"))
    flags.append(("invalid_secondary_cnaes", bad))

    cep, bad = _cep(col("cep"))
    flags.append(("invalid_cep", bad))

    phone1, phone1_kind = nz.normalize_phones(col("ddd_1"), col("telefone_1"))
    phone2, phone2_kind = nz.normalize_phones(col("ddd_2"), col("telefone_2"))
    fax, fax_kind = nz.normalize_phones(col("ddd_fax"), col("fax"))
    email, email_valid = nz.normalize_emails(col("correio_eletronico"))

    tom_code = _code(col("municipio"))
    ibge_code = pc.take(ibge_codes, pc.index_in(tom_code, value_set=tom_codes))

    return pa.table(
        {
            "cnpj": cnpj,
            "cnpj_root": root,
            "is_head_office": pc.equal(
                pc.utf8_trim_whitespace(col("identificador_matriz_filial")), "1"
            ),
            "trade_name": nz.clean_text(col("nome_fantasia")),
            "registration_status": _code(col("situacao_cadastral")),
            "status_date": status_date,
            "status_reason_code": _code(col("motivo_situacao_cadastral")),
            "foreign_city": nz.clean_text(col("nome_cidade_exterior")),
            "country_code": _code(col("pais")),
            "opening_date": opening_date,
            "cnae_primary": _code(col("cnae_fiscal_principal")),
            "cnaes_secondary": secondary,
            "street_type": nz.clean_text(col("tipo_logradouro")),
            "street": nz.clean_text(col("logradouro")),
            "street_number": nz.clean_text(col("numero")),
            "complement": nz.clean_text(col("complemento")),
            "district": nz.clean_text(col("bairro")),
            "cep": cep,
            "uf": pc.utf8_trim_whitespace(col("uf")),
            "tom_code": tom_code,
            "ibge_code": ibge_code,
            "phone1": phone1,
            "phone1_kind": phone1_kind,
            "phone2": phone2,
            "phone2_kind": phone2_kind,
            "fax": fax,
            "fax_kind": fax_kind,
            "email": email,
            "email_valid": email_valid,
            "special_status": nz.clean_text(col("situacao_especial")),
            "special_status_date": special_date,
            "quality_flags": _flags_literal(flags),
        }
    )


def _block_size(kind: FileKind, chunk_bytes: int) -> int:
    """Bytes per chunk for ``kind``: half for the files of short rows.

    Empresas, Sócios and Simples rows are a third to a tenth as long as
    Estabelecimentos rows, so the same bytes hold several times the rows, and
    Arrow's per-row structures (offsets, validity, every intermediate column)
    grow with rows, not bytes.
    """
    return chunk_bytes if kind is FileKind.ESTABLISHMENT else max(64 * 1024, chunk_bytes // 2)


def _code(values: pa.ChunkedArray) -> pa.Array:
    """Trim a code column (``02``, ``6204000``); empty becomes null.

    Codes never hold inner whitespace worth collapsing, so this skips the
    regular expression that :func:`normalize.clean_text` needs for free text.
    """
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _to_csv(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    if table.num_rows:
        pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False))
    return sink.getvalue()


def _companies(source: pa.Table) -> pa.Table:
    col = source.column
    name, had_cpf = nz.mask_trailing_cpfs(nz.clean_text(col("razao_social")).fill_null(""))
    capital, bad_capital = nz.parse_share_capital(col("capital_social"))
    return pa.table(
        {
            "cnpj_root": pc.utf8_trim_whitespace(col("cnpj_basico")),
            "legal_name": _empty_to_null(name),
            "legal_name_had_cpf": had_cpf,
            "legal_nature_code": _code(col("natureza_juridica")),
            "responsible_qualification_code": _code(col("qualificacao_responsavel")),
            "share_capital": capital,
            "company_size": _code(col("porte")),
            "federative_entity": nz.clean_text(col("ente_federativo_responsavel")),
            "quality_flags": _flags_literal([("invalid_share_capital", bad_capital)]),
        }
    )


#: Receita writes this masked CPF when a partner has no legal representative.
_NO_REPRESENTATIVE = "***000000**"


def _partners(source: pa.Table) -> pa.Table:
    col = source.column
    entry_date, bad_date = nz.parse_receita_dates(col("data_entrada_sociedade"))
    representative = _code(col("representante_legal"))
    representative = pc.if_else(pc.equal(representative, _NO_REPRESENTATIVE), None, representative)
    representative_qualification = _code(col("qualificacao_representante_legal"))
    representative_qualification = pc.if_else(
        pc.equal(representative_qualification, "00"), None, representative_qualification
    )
    return pa.table(
        {
            "cnpj_root": pc.utf8_trim_whitespace(col("cnpj_basico")),
            "partner_type": _code(col("identificador_socio")),
            "name": nz.clean_text(col("nome_socio")),
            "document": _code(col("cnpj_cpf_socio")),
            "qualification_code": _code(col("qualificacao_socio")),
            "entry_date": entry_date,
            "country_code": _code(col("pais")),
            "representative_document": representative,
            "representative_name": nz.clean_text(col("nome_representante")),
            "representative_qualification_code": representative_qualification,
            "age_range": _code(col("faixa_etaria")),
            "quality_flags": _flags_literal([("invalid_entry_date", bad_date)]),
        }
    )


def _simples(source: pa.Table) -> pa.Table:
    col = source.column
    flags: list[tuple[str, pa.Array]] = []
    dates = {}
    for target, column in (
        ("simples_since", "data_opcao_pelo_simples"),
        ("simples_until", "data_exclusao_do_simples"),
        ("mei_since", "data_opcao_pelo_mei"),
        ("mei_until", "data_exclusao_do_mei"),
    ):
        dates[target], bad = nz.parse_receita_dates(col(column))
        flags.append((f"invalid_{target}", bad))
    return pa.table(
        {
            "cnpj_root": pc.utf8_trim_whitespace(col("cnpj_basico")),
            "simples_opted": _yes_no(col("opcao_pelo_simples")),
            "simples_since": dates["simples_since"],
            "simples_until": dates["simples_until"],
            "mei_opted": _yes_no(col("opcao_pelo_mei")),
            "mei_since": dates["mei_since"],
            "mei_until": dates["mei_until"],
            "quality_flags": _flags_literal(flags),
        }
    )


def _lookup(source: pa.Table) -> pa.Table:
    return pa.table(
        {
            "code": pc.utf8_trim_whitespace(source.column("codigo")),
            "description": nz.clean_text(source.column("descricao")).fill_null(""),
        }
    )


def _municipalities(
    source: pa.Table, tom_codes: pa.Array, ibge_codes: pa.Array, ufs: pa.Array
) -> pa.Table:
    """Receita's municipality list carries names only; UF and IBGE code come from the mapping."""
    lookup = _lookup(source)
    positions = pc.index_in(lookup.column("code"), value_set=tom_codes)
    return pa.table(
        {
            "tom_code": lookup.column("code"),
            "name": lookup.column("description"),
            "uf": pc.take(ufs, positions),
            "ibge_code": pc.take(ibge_codes, positions),
        }
    )


def _empty_table(kind: FileKind) -> pa.Table:
    columns = source_columns(kind)
    empty = pa.table({name: pa.array([], type=pa.string()) for name in columns})
    if kind is FileKind.ESTABLISHMENT:
        no_codes = pa.array([], type=pa.string())
        return _establishments(empty, no_codes, no_codes)
    if kind is FileKind.MUNICIPALITY:
        no_codes = pa.array([], type=pa.string())
        return _municipalities(empty, no_codes, no_codes, no_codes)
    builders = {
        FileKind.COMPANY: _companies,
        FileKind.PARTNER: _partners,
        FileKind.SIMPLES: _simples,
    }
    return builders.get(kind, _lookup)(empty)


def _yes_no(values: pa.ChunkedArray) -> pa.Array:
    cleaned = pc.utf8_upper(pc.utf8_trim_whitespace(values))
    return pc.if_else(
        pc.equal(cleaned, "S"),
        True,
        pc.if_else(pc.equal(cleaned, "N"), False, pa.scalar(None, pa.bool_())),
    )


def _secondary_cnaes(values: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Turn ``6201501,6202300`` into the PostgreSQL array literal ``{6201501,6202300}``."""
    compact = pc.replace_substring(values, " ", "")
    empty = pc.equal(compact, "")
    valid = pc.match_substring_regex(compact, _SECONDARY_CNAES_PATTERN)
    invalid = pc.and_(pc.invert(empty), pc.invert(valid))
    if pc.any(invalid).as_py():
        # A malformed list keeps its 7-digit codes; the row is flagged, not dropped.
        salvaged = pc.replace_substring_regex(
            pc.replace_substring_regex(compact, r"[^0-9,]", ""), r",+", ","
        )
        compact = pc.if_else(valid, compact, pc.utf8_trim(salvaged, characters=","))
    literal = pc.binary_join_element_wise("{", compact, "}", "")
    return pc.if_else(empty, "{}", literal), invalid


def _cep(values: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Keep 8-digit CEPs; restore the leading zero that 7-digit ones lost; flag the rest."""
    digits = pc.replace_substring_regex(values, r"[^0-9]", "")
    length = pc.utf8_length(digits)
    padded = pc.if_else(pc.equal(length, 7), pc.binary_join_element_wise("0", digits, ""), digits)
    valid = pc.and_(pc.equal(pc.utf8_length(padded), 8), pc.invert(pc.equal(padded, "00000000")))
    blank = pc.equal(pc.utf8_trim_whitespace(values), "")
    return pc.if_else(valid, padded, pa.scalar(None, pa.string())), pc.and_(
        pc.invert(valid), pc.invert(blank)
    )


def _flags_literal(flags: list[tuple[str, pa.Array]]) -> pa.Array:
    """Build a PostgreSQL text[] literal per row from named boolean columns."""
    if not flags:
        raise ValueError("at least one flag column is required")
    joined: pa.Array | None = None
    for name, mask in flags:
        piece = pc.if_else(pc.fill_null(mask, False), f"{name},", "")
        joined = piece if joined is None else pc.binary_join_element_wise(joined, piece, "")
    trimmed = pc.utf8_rtrim(joined, characters=",")
    return pc.binary_join_element_wise("{", trimmed, "}", "")


def _empty_to_null(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _check_digits_ok(cnpj: pa.Array, bad_shape: pa.Array) -> pa.Array:
    """Verify the modulo-11 check digits of well-shaped CNPJs in one numpy pass.

    Each character counts its ASCII code minus 48, which gives digits their
    value and letters 17 (A) to 42 (Z), following Receita's rule for alphanumeric CNPJs.
    """
    if isinstance(cnpj, pa.ChunkedArray):
        cnpj = cnpj.combine_chunks()
    shaped = pc.invert(bad_shape)
    if isinstance(shaped, pa.ChunkedArray):
        shaped = shaped.combine_chunks()
    candidates = pc.filter(cnpj, shaped)
    result = np.zeros(len(cnpj), dtype=bool)
    if len(candidates) == 0:
        return pa.array(result)

    # Every candidate is exactly 14 ASCII bytes, so the data buffer is an n x 14 grid.
    candidates = pa.concat_arrays([candidates])
    offsets = np.frombuffer(candidates.buffers()[1], dtype=np.int32)[
        candidates.offset : candidates.offset + len(candidates) + 1
    ]
    grid = np.frombuffer(candidates.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    values = grid.reshape(-1, 14).astype(np.int64) - 48

    first = (values[:, :12] @ _FIRST_WEIGHTS) % 11
    first = np.where(first < 2, 0, 11 - first)
    second = (values[:, :13] @ _SECOND_WEIGHTS) % 11
    second = np.where(second < 2, 0, 11 - second)
    matches = (values[:, 12] == first) & (values[:, 13] == second)

    # A run of one repeated character (00000000000000) passes the arithmetic
    # but is never issued.
    repeated = (values == values[:, :1]).all(axis=1)
    result[shaped.to_numpy(zero_copy_only=False)] = matches & ~repeated
    return pa.array(result)


def _record_numbers(ordinals: np.ndarray, invalid_numbers: list[int]) -> np.ndarray:
    """Map the n-th good record of the file to its record number, skipping rejected ones."""
    if not invalid_numbers:
        return ordinals
    rejected = np.array(sorted(invalid_numbers), dtype=np.int64)
    # The n-th good record has record number n + k, where k counts the rejected
    # numbers below n + k. Iterating from k = 0 reaches that fixed point.
    numbers = ordinals.copy()
    while True:
        shifted = ordinals + np.searchsorted(rejected, numbers, side="right")
        if np.array_equal(shifted, numbers):
            return numbers
        numbers = shifted


def _only_nonempty(
    rejects: list[tuple[pa.Array, QuarantineReason, str]], rows: int
) -> tuple[list[tuple[pa.Array, QuarantineReason, str]], pa.Array]:
    nonempty = [(mask, reason, detail) for mask, reason, detail in rejects if pc.any(mask).as_py()]
    keep = pa.array(np.ones(rows, dtype=bool))
    for mask, _reason, _detail in nonempty:
        keep = pc.and_(keep, pc.invert(mask))
    return nonempty, keep


def mask_cpfs(raw: str) -> str:
    """Mask every CPF in a raw record, so quarantine keeps no owner's CPF in clear."""
    return _CPF_IN_RAW.sub(CPF_MASK, raw)


def _quarantine_rows(
    source: pa.Table, lines: pa.Array, mask: pa.Array, reason: QuarantineReason, detail: str
) -> list[QuarantinedRow]:
    """Rebuild the rejected records as Receita writes them: every field quoted, ``;``."""
    rejected = source.filter(mask)
    quoted = [
        pc.replace_substring(rejected.column(i), '"', '""') for i in range(rejected.num_columns)
    ]
    raw = pc.binary_join_element_wise(*quoted, '";"')
    return [
        QuarantinedRow(line=line, raw=mask_cpfs(f'"{text}"'), reason=reason, detail=detail)
        for line, text in zip(pc.filter(lines, mask).to_pylist(), raw.to_pylist(), strict=True)
    ]
