"""Column names of Receita's CSV layout, in file order, per file kind."""

from __future__ import annotations

from domain.ingestion import FileKind

SOURCE_COLUMNS: dict[FileKind, tuple[str, ...]] = {
    FileKind.COMPANY: (
        "cnpj_basico",
        "razao_social",
        "natureza_juridica",
        "qualificacao_responsavel",
        "capital_social",
        "porte",
        "ente_federativo_responsavel",
    ),
    FileKind.ESTABLISHMENT: (
        "cnpj_basico",
        "cnpj_ordem",
        "cnpj_dv",
        "identificador_matriz_filial",
        "nome_fantasia",
        "situacao_cadastral",
        "data_situacao_cadastral",
        "motivo_situacao_cadastral",
        "nome_cidade_exterior",
        "pais",
        "data_inicio_atividade",
        "cnae_fiscal_principal",
        "cnae_fiscal_secundaria",
        "tipo_logradouro",
        "logradouro",
        "numero",
        "complemento",
        "bairro",
        "cep",
        "uf",
        "municipio",
        "ddd_1",
        "telefone_1",
        "ddd_2",
        "telefone_2",
        "ddd_fax",
        "fax",
        "correio_eletronico",
        "situacao_especial",
        "data_situacao_especial",
    ),
    FileKind.PARTNER: (
        "cnpj_basico",
        "identificador_socio",
        "nome_socio",
        "cnpj_cpf_socio",
        "qualificacao_socio",
        "data_entrada_sociedade",
        "pais",
        "representante_legal",
        "nome_representante",
        "qualificacao_representante_legal",
        "faixa_etaria",
    ),
    FileKind.SIMPLES: (
        "cnpj_basico",
        "opcao_pelo_simples",
        "data_opcao_pelo_simples",
        "data_exclusao_do_simples",
        "opcao_pelo_mei",
        "data_opcao_pelo_mei",
        "data_exclusao_do_mei",
    ),
}

LOOKUP_COLUMNS = ("codigo", "descricao")


def source_columns(kind: FileKind) -> tuple[str, ...]:
    return SOURCE_COLUMNS.get(kind, LOOKUP_COLUMNS)
