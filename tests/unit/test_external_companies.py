"""Normalisation of api-cnaes companies and the mapping of criteria to its query."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from application.external_companies import (
    normalise_company,
    query_key,
    source_query,
)
from domain.search import SearchCriteria

CNPJ = "11222333000181"


def test_numeric_codes_normalised() -> None:
    company = normalise_company(
        {
            "cnpj": CNPJ,
            "cnae_fiscal": 1091102,
            "cnaes_secundarios": [{"codigo": 0, "descricao": ""}],
            "codigo_municipio_ibge": 3550308,
            "situacao_cadastral": 2,
            "codigo_porte": 5,
            "capital_social": 1500.5,
            "identificador_matriz_filial": 2,
        }
    )

    assert company is not None
    assert company.cnae_primary == "1091102"
    assert company.cnaes_secondary == ()
    assert company.ibge_code == "3550308"
    assert company.registration_status == "02"
    assert company.company_size == "05"
    assert company.share_capital == Decimal("1500.50")
    assert company.is_head_office is False


def test_text_codes_and_names_normalised() -> None:
    company = normalise_company(
        {
            "cnpj": "11.222.333/0001-81",
            "cnae_fiscal": "1091-1/02",
            "cnaes_secundarios": ["4721102", "4721102", "47.21-1-03"],
            "descricao_situacao_cadastral": "BAIXADA",
            "porte": "MICRO EMPRESA",
            "data_inicio_atividade": "20190301",
            "uf": "sp",
        }
    )

    assert company is not None
    assert company.cnpj == CNPJ
    assert company.cnae_primary == "1091102"
    assert company.cnaes_secondary == ("4721102", "4721103")
    assert company.registration_status == "08"
    assert company.company_size == "01"
    assert company.opening_date == dt.date(2019, 3, 1)
    assert company.uf == "SP"
    assert company.is_head_office is True


def test_phones_become_e164() -> None:
    company = normalise_company(
        {
            "cnpj": CNPJ,
            "ddd_telefone_1": "1132221000",
            "ddd_telefone_2": "11 8765-4321",
            "telefones": [{"ddd": "11", "numero": "32221000"}, "(19) 99999-9999", "0000"],
        }
    )

    assert company is not None
    # The 8-digit mobile gets its 9; the repeat and the placeholders are left out.
    assert company.phones == ("+551132221000", "+5511987654321")


def test_email_lower_cased_or_dropped() -> None:
    valid = normalise_company({"cnpj": CNPJ, "email": " Vendas@Padaria.COM.br "})
    broken = normalise_company({"cnpj": CNPJ, "email": "sem-arroba.com.br"})

    assert valid is not None
    assert valid.email == "vendas@padaria.com.br"
    assert broken is not None
    assert broken.email is None


def test_invalid_cnpj_skipped() -> None:
    assert normalise_company({"cnpj": "11222333000182"}) is None
    assert normalise_company({"cnpj": 11222333000181}) is None
    assert normalise_company({"razao_social": "Sem CNPJ"}) is None


def test_invalid_values_become_none() -> None:
    company = normalise_company(
        {
            "cnpj": CNPJ,
            "cnae_fiscal": "abc",
            "codigo_municipio_ibge": "123",
            "situacao_cadastral": 9,
            "capital_social": "-5",
            "data_inicio_atividade": "2019-02-31",
            "opcao_pelo_simples": "S",
        }
    )

    assert company is not None
    assert company.cnae_primary is None
    assert company.ibge_code is None
    assert company.registration_status is None
    assert company.share_capital is None
    assert company.opening_date is None
    assert company.simples_opted is None


def test_query_single_and_many_values() -> None:
    one = SearchCriteria.create(cnaes=["1091102"], uf="SP")
    many = SearchCriteria.create(
        cnaes=["1091102", "4721102"],
        municipalities=["3550308", "3509502"],
        include_secondary=True,
    )

    assert source_query(one) == {"uf": "SP", "cnae_fiscal": "1091102"}
    assert source_query(many) == {
        "uf": "SP",
        "cnae_fiscal": ["1091102", "4721102"],
        "incluir_cnaes_secundarios": True,
        "codigo_municipio_ibge": ["3550308", "3509502"],
    }


def test_query_key_ignores_other_filters() -> None:
    plain = SearchCriteria.create(cnaes=["1091102"], uf="SP")
    filtered = SearchCriteria.create(cnaes=["1091102"], uf="SP", company_sizes=["ME"])
    other_uf = SearchCriteria.create(cnaes=["1091102"], uf="RJ")

    assert query_key("api-cnaes", source_query(plain)) == query_key(
        "api-cnaes", source_query(filtered)
    )
    assert query_key("api-cnaes", source_query(plain)) != query_key(
        "api-cnaes", source_query(other_uf)
    )
