# language: pt
Funcionalidade: Papéis e permissões
  Cada usuário de um tenant tem um papel: administrador, vendas ou leitura.
  O papel decide o que a pessoa pode fazer na API; o que ela não pode fazer
  é recusado com 403 e uma explicação em português. Chaves de API fazem só o
  que os seus escopos permitem.

  Contexto:
    Dado o tenant "Comercial Sul" com um usuário de cada papel

  Esquema do Cenário: O que cada papel pode fazer
    Quando o usuário com papel "<papel>" tenta <ação>
    Então a tentativa é <resultado>

    Exemplos:
      | papel         | ação                          | resultado |
      | administrador | criar uma chave de API        | permitida |
      | vendas        | criar uma chave de API        | negada    |
      | leitura       | criar uma chave de API        | negada    |
      | administrador | buscar pré-leads              | permitida |
      | vendas        | buscar pré-leads              | permitida |
      | leitura       | buscar pré-leads              | permitida |
      | administrador | consultar a auditoria         | permitida |
      | vendas        | consultar a auditoria         | negada    |
      | administrador | consultar a auditoria do host | negada    |

  Cenário: Uma chave de API só faz o que os seus escopos permitem
    Dado uma chave de API do tenant só com o escopo "registry:read"
    Quando a chave tenta buscar pré-leads
    Então a resposta é 403 com o código "insufficient_scope"
    E o detalhe do erro cita o escopo "preleads:read"
    Quando a chave consulta uma empresa pelo CNPJ
    Então a tentativa é permitida

  Cenário: O administrador do host age dentro de um tenant, e isso fica registrado
    Dado um administrador do host
    Quando ele lista as chaves de API sem indicar o tenant
    Então a resposta é 403 com o código "tenant_required"
    Quando ele lista as chaves de API do tenant indicando-o no cabeçalho X-Tenant-ID
    Então a tentativa é permitida
    E a auditoria do host registra "host.acted_as_tenant" para o tenant "Comercial Sul"

  Cenário: Uma mudança de papel vale a partir da próxima requisição
    Dado que o usuário com papel "administrador" lista as chaves de API sem problema
    Quando o papel desse usuário muda para "leitura"
    Então a próxima vez que ele lista as chaves de API a resposta é 403 com o código "forbidden"
