# language: pt
Funcionalidade: Buscar pré-leads na api-cnaes quando a base local não tem
  Como representante de vendas de um tenant
  Quero que a busca consulte a api-cnaes quando a base local não tem nenhuma empresa
  Para não perder clientes que a última carga da Receita ainda não trouxe

  Contexto:
    Dado que a base local do CNPJ só tem este estabelecimento:
      | cnpj               | nome fantasia | cnae principal | município |
      | 34.567.812/0001-35 | MODA CENTRO   | 4781400        | São Paulo |
    E que a api-cnaes está configurada e conhece estas empresas:
      | cnpj               | razão social              | cnae    | uf | município IBGE | situação | telefone        | e-mail                   |
      | 11.222.333/0001-81 | Sistemas Boa Vista Ltda   | 6201501 | RR | 1400100        | 2        | (95) 99123-4567 | Contato@SistemasBV.com.BR |
      | 12.ABC.345/01DE-35 | Código Norte Software Ltda | 6201501 | RR | 1400100        | 2        | (95) 3224-1000  |                          |
    E que o tenant "Vendas Norte" tem uma chave de API

  Cenário: busca usa a api-cnaes quando não há dado local
    Quando busco pré-leads com CNAE "6201501" na UF "RR"
    Então a busca devolve 2 resultados com origem "api-cnaes"
    E o pré-lead "11.222.333/0001-81" tem o telefone "+5595991234567" e o e-mail "contato@sistemasbv.com.br"
    E o pré-lead "12.ABC.345/01DE-35" tem o telefone "+559532241000" e nenhum e-mail
    E as 2 empresas ficam guardadas com a origem "api-cnaes" e a hora da consulta
    Quando busco de novo pré-leads com CNAE "6201501" na UF "RR"
    Então a busca devolve 2 resultados com origem "api-cnaes"
    E a api-cnaes recebeu uma única busca

  Cenário: busca com dado local não consulta a api-cnaes
    Quando busco pré-leads com CNAE "4781400" na UF "SP"
    Então a busca devolve 1 resultado com origem "local"
    E a api-cnaes não recebeu nenhuma busca

  Cenário: api-cnaes fora do ar devolve a base local com um aviso
    Dado que a api-cnaes está fora do ar
    Quando busco pré-leads com CNAE "6201501" na UF "RR"
    Então a busca devolve 0 resultados com origem "local"
    E a resposta traz o aviso "api_cnaes_failed"
