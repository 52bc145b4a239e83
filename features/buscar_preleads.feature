# language: pt
Funcionalidade: Buscar pré-leads por CNAE e município
  Como representante de vendas de um tenant
  Quero buscar estabelecimentos pelo CNAE e pelo município
  Para montar minha lista de prospecção a partir da base pública do CNPJ

  Contexto:
    Dado que a base do CNPJ da Receita contém estes estabelecimentos:
      | cnpj               | nome fantasia          | situação | cnae principal | cnaes secundários | município | telefone       | e-mail                          |
      | 34.567.812/0001-35 | MODA CENTRO            | ATIVA    | 4781400        |                   | São Paulo | (11) 3222-1000 | vendas@modacentro.com.br        |
      | 12.876.543/0001-56 | BOUTIQUE PINHEIROS     | ATIVA    | 4781400        |                   | São Paulo |                | contato@contabilpaulista.com.br |
      | 23.456.781/0001-29 | VESTE BEM              | ATIVA    | 4781400        |                   | São Paulo | (11) 3555-6000 |                                 |
      | 41.234.567/0001-00 | ROUPAS DO BAIRRO       | BAIXADA  | 4781400        |                   | São Paulo | (11) 3333-2000 |                                 |
      | 19.876.543/0001-03 | CAMPINAS FASHION       | ATIVA    | 4781400        |                   | Campinas  |                | contato@contabilpaulista.com.br |
      | 45.678.123/0001-14 | BISTRÔ DA VILA         | ATIVA    | 5611201        | 4781400           | São Paulo | (11) 3444-5000 | reservas@bistrodavila.com.br    |
      | 28.765.432/0001-02 | CANTINA PAULISTA       | ATIVA    | 5611201        |                   | São Paulo |                | contato@contabilpaulista.com.br |
      | 37.654.321/0001-10 | RESTAURANTE CAMPINEIRO | ATIVA    | 5611201        | 4781400           | Campinas  | (19) 3222-7000 |                                 |
    E que o tenant "Vendas Sul" tem uma chave de API

  Cenário: Busca por CNAE e município devolve só os ativos do município, em ordem de CNPJ
    Quando busco pré-leads com CNAE "4781400" no município "3550308" da UF "SP"
    Então recebo 3 estabelecimentos
    E os CNPJs recebidos são, nesta ordem:
      | cnpj               |
      | 12.876.543/0001-56 |
      | 23.456.781/0001-29 |
      | 34.567.812/0001-35 |
    E todos os estabelecimentos recebidos estão ativos no município "3550308"
    E o resultado não inclui o CNPJ "41.234.567/0001-00"
    E o resultado não inclui o CNPJ "19.876.543/0001-03"

  Cenário: Incluir CNAEs secundários amplia o resultado
    Quando busco pré-leads com CNAE "4781400" no município "3550308" da UF "SP", incluindo CNAEs secundários
    Então recebo 4 estabelecimentos
    E o resultado inclui o CNPJ "45.678.123/0001-14"
    E o estabelecimento "45.678.123/0001-14" tem o nome fantasia "BISTRÔ DA VILA"
    E o resultado não inclui o CNPJ "37.654.321/0001-10"

  Cenário: Excluir contatos compartilhados remove quem só tem o e-mail do contador
    Quando busco pré-leads com CNAE "4781400" no município "3550308" da UF "SP", excluindo contatos compartilhados
    Então recebo 2 estabelecimentos
    E o resultado não inclui o CNPJ "12.876.543/0001-56"
    E o resultado inclui o CNPJ "34.567.812/0001-35"

  Cenário: CNAE inválido responde erro com detalhe em português
    Quando busco pré-leads com CNAE "47814" no município "3550308" da UF "SP"
    Então recebo o erro 400 com o código "invalid_cnae"
    E o erro aponta o campo "cnaes"
    E o detalhe do erro diz "CNAE inválido '47814'"

  Cenário: Município de outra UF responde erro
    Quando busco pré-leads com CNAE "4781400" no município "3304557" da UF "SP"
    Então recebo o erro 400 com o código "municipality_outside_uf"
    E o erro aponta o campo "municipio_ibge"
    E o detalhe do erro diz "Municípios fora da UF SP: 3304557"

  Cenário: Busca sem chave de API é recusada
    Quando busco pré-leads sem chave de API, com CNAE "4781400" no município "3550308" da UF "SP"
    Então recebo o erro 401 com o código "authentication_required"
    E o detalhe do erro diz "a chave de API no cabeçalho X-API-Key"
