"""The lead list as CSV for a spreadsheet set to Brazilian Portuguese.

It follows the credit statement's conventions: ``;``, UTF-8 with a BOM,
dd/mm/aaaa, and formula cells neutralised. Stages appear by name, contacts
are joined with `` | ``, and each custom field gets a column.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.export.ledger_csv import BrazilianCsv, Cell, date_and_time_cells
from domain.cnpj import Cnpj
from domain.errors import InvalidCnpj
from domain.leads import Lead, LeadField

ORIGIN_LABELS = {"qualification": "Qualificação", "manual": "Manual"}
CLASSIFICATION_LABELS = {
    "qualified": "Qualificado",
    "not_interested": "Sem interesse",
    "invalid": "Contato inválido",
    "opt_out": "Descadastrado",
    "no_answer": "Sem resposta",
}
HEADERS = (
    "CNPJ",
    "Razão social",
    "Nome fantasia",
    "CNAE",
    "UF",
    "Município (IBGE)",
    "Etapa",
    "Origem",
    "Classificação",
    "Responsável",
    "Telefones",
    "E-mails",
    "Etiquetas",
    "Motivo de fechamento",
    "Possível duplicado",
    "Criado em",
    "Observações",
    "ID do lead",
)


def export_filename(day: str) -> str:
    return f"garimpo-leads-{day}.csv"


def _formatted(cnpj: str) -> str:
    try:
        return Cnpj.parse(cnpj).formatted()
    except InvalidCnpj:
        return cnpj


class LeadsCsv:
    def __init__(
        self,
        timezone: str,
        stage_names: Mapping[str, str],
        owner_names: Mapping[str, str],
        fields: Sequence[LeadField],
    ) -> None:
        self._zone = zoneinfo.ZoneInfo(timezone)
        self._stages = stage_names
        self._owners = owner_names
        self._fields = fields
        self._csv = BrazilianCsv()

    def header(self) -> bytes:
        return self._csv.chunk([(*HEADERS, *(field.label for field in self._fields))])

    def rows(self, leads: Iterable[Lead]) -> bytes:
        return self._csv.chunk(self._row(lead) for lead in leads)

    def _row(self, lead: Lead) -> list[Cell]:
        day, time = date_and_time_cells(lead.created_at, self._zone)
        phones = " | ".join(phone_cell(c.value) for c in lead.contacts if c.kind == "phone")
        emails = " | ".join(c.value for c in lead.contacts if c.kind == "email")
        row: list[Cell] = [
            _formatted(lead.cnpj),
            lead.company_name,
            lead.trade_name,
            lead.cnae,
            lead.uf,
            lead.municipality_ibge,
            self._stages.get(lead.stage_id, ""),
            ORIGIN_LABELS.get(str(lead.origin), str(lead.origin)),
            CLASSIFICATION_LABELS.get(str(lead.classification), "")
            if lead.classification
            else None,
            self._owners.get(lead.owner_id or "", None),
            phones,
            emails,
            ", ".join(lead.tags),
            lead.close_reason,
            "Sim" if lead.review_status else "Não",
            f"{day} {time}",
            lead.notes,
            lead.id,
        ]
        row.extend(_custom_cell(lead.custom_fields.get(field.key)) for field in self._fields)
        return row


def phone_cell(e164: str) -> str:
    """Write a Brazilian number as people do, (41) 98765-4321; other numbers stay in E.164.

    Besides reading better, the national form does not start with "+", which
    a spreadsheet would take for a formula and the writer would have to quote.
    """
    if e164.startswith("+55") and len(e164) in (13, 14) and e164[1:].isdigit():
        area, number = e164[3:5], e164[5:]
        return f"({area}) {number[:-4]}-{number[-4:]}"
    return e164


def _custom_cell(value: Any) -> Cell:
    if value is None:
        return None
    if isinstance(value, bool):
        return "Sim" if value else "Não"
    if isinstance(value, int | float):
        return value
    return str(value)
