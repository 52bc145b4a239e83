# language: pt
Funcionalidade: Criar tenant com plano
  Como operador do Garimpo
  Quero criar planos e dar um deles a cada empresa cliente
  Para que ela use a API com os limites que contratou, e parar o acesso quando preciso

  Contexto:
    Dado que sou o operador do host com uma chave de API do host
    E que criei o plano "horizonte-pro" chamado "Pro mensal" com 500 créditos por 49900 centavos

  Cenário: Criar um tenant num plano, suspendê-lo e reativá-lo
    Quando crio o tenant "Distribuidora Horizonte" no plano "horizonte-pro"
    Então a lista de tenants mostra "Distribuidora Horizonte" no plano "Pro mensal"
    E o tenant "Distribuidora Horizonte" tem o fuso horário "America/Sao_Paulo"
    E o tenant "Distribuidora Horizonte" tem o horário de silêncio das "20:00" às "08:00"
    Dado que o tenant "Distribuidora Horizonte" tem uma chave de API
    Quando suspendo o tenant "Distribuidora Horizonte" com o motivo "Pagamento em atraso"
    Então a chave do tenant é recusada com o erro 403 e o código "tenant_suspended"
    E o detalhe do erro diz "Pagamento em atraso"
    Quando reativo o tenant "Distribuidora Horizonte"
    Então a chave do tenant volta a funcionar

  Cenário: Um plano arquivado não é dado a um tenant novo
    Dado que arquivei o plano "horizonte-pro"
    Quando crio o tenant "Atacado Central" no plano "horizonte-pro"
    Então a criação é recusada com o erro 409 e o código "plan_archived"
    E a lista de tenants não mostra "Atacado Central"
