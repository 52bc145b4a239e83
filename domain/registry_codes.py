"""Descriptions of the Receita codes that have no lookup file in the dump.

Situação cadastral and porte live in :mod:`domain.search`, beside the filters
that use them; the codes here only appear in company details.
"""

from __future__ import annotations

#: identificador_socio of the Sócios file.
PARTNER_TYPE = {"1": "PESSOA JURÍDICA", "2": "PESSOA FÍSICA", "3": "ESTRANGEIRO"}

#: faixa_etaria of the Sócios file, as the layout defines it.
AGE_RANGE = {
    "0": "NÃO SE APLICA",
    "1": "0 A 12 ANOS",
    "2": "13 A 20 ANOS",
    "3": "21 A 30 ANOS",
    "4": "31 A 40 ANOS",
    "5": "41 A 50 ANOS",
    "6": "51 A 60 ANOS",
    "7": "61 A 70 ANOS",
    "8": "71 A 80 ANOS",
    "9": "MAIS DE 80 ANOS",
}
