# language: pt
Funcionalidade: Estorno de créditos e alerta de saldo baixo
  Como operador do Garimpo
  Quero desfazer um débito contestado com um estorno e avisar a empresa quando o saldo acaba
  Para que o extrato de cada cliente fique certo e ninguém fique sem créditos de surpresa

  Contexto:
    Dado que sou o operador do host com uma chave de API do host
    E que a empresa "Comercial Norte" tem uma chave de API e o e-mail de contato "financeiro@comercialnorte.com.br"

  Cenário: estorno
    Dado que concedi 20 créditos à empresa
    E que um pré-lead da empresa foi qualificado e o crédito dele foi debitado
    Quando estorno o débito do pré-lead com o motivo "Contato inválido"
    Então o estorno devolve 1 crédito
    E o saldo da empresa é de 20 créditos
    E o extrato da empresa mostra o estorno apontando para o débito
    Quando estorno o débito do pré-lead de novo
    Então o estorno é recusado com o erro 409 e o código "credit_entry_already_reversed"
    E o saldo da empresa é de 20 créditos

  Cenário: alerta de saldo baixo
    Dado que a empresa tem um administrador com o e-mail "admin@comercialnorte.com.br"
    E que a empresa cadastrou um webhook para o evento "credits.low"
    E que concedi 15 créditos à empresa
    Quando ajusto o saldo da empresa em -6 créditos com o motivo "Concedido a mais"
    Então o webhook recebe um evento "credits.low" com 9 créditos disponíveis, assinado com o segredo do endpoint
    E "financeiro@comercialnorte.com.br" recebe o e-mail "Saldo de créditos baixo: 9 créditos disponíveis"
    E "admin@comercialnorte.com.br" recebe o e-mail "Saldo de créditos baixo: 9 créditos disponíveis"
    Quando ajusto o saldo da empresa em -1 crédito com o motivo "Correção"
    Então nenhum alerta novo é enviado, porque o saldo já estava abaixo do limite
