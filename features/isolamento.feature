# language: pt
Funcionalidade: Isolamento entre tenants
  Os dados de um tenant nunca aparecem para outro: nem numa lista, nem quando
  alguém pede um registro pelo identificador. O banco de dados garante isso
  sozinho, mesmo que uma consulta esqueça de filtrar pelo tenant.

  Contexto:
    Dado os tenants "Alfa Vendas" e "Beta Comercial", cada um com o seu administrador
    E que "Alfa Vendas" criou a chave de API "integração alfa"

  Cenário: Um tenant não vê as chaves do outro na lista
    Quando "Beta Comercial" lista as suas chaves de API
    Então a lista não contém a chave "integração alfa"
    E "Alfa Vendas" vê a chave "integração alfa" na sua lista

  Cenário: Pedir o registro de outro tenant pelo identificador responde 404
    Quando "Beta Comercial" consulta a chave "integração alfa" pelo identificador
    Então a resposta é 404 com o código "not_found"
    Quando "Beta Comercial" tenta revogar a chave "integração alfa"
    Então a resposta é 404 com o código "not_found"
    E a chave "integração alfa" continua funcionando

  Cenário: Sem o tenant definido na transação, o banco não devolve nenhuma linha
    Quando alguém lê a tabela de chaves de API como a aplicação, sem definir o tenant
    Então nenhuma linha volta
    Quando a aplicação define o tenant "Alfa Vendas" na transação
    Então só voltam chaves de "Alfa Vendas"
