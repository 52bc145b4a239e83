# language: pt
Funcionalidade: Assinatura paga pelo Stripe
  Como administrador de uma empresa cliente
  Quero assinar um plano e pagá-lo pelo Stripe
  Para receber os créditos do plano a cada mês, e saber a tempo quando um pagamento falha

  Contexto:
    Dado que o plano "pro-mensal" com 500 créditos mensais está à venda pelo Stripe
    E que a empresa "Distribuidora Horizonte" com o e-mail "financeiro@exemplo.com.br" está no plano "pro-mensal"

  Cenário: assinatura paga concede créditos
    Quando o administrador da empresa assina o plano "pro-mensal" e paga no Stripe
    Então a assinatura da empresa está "active"
    E o saldo da empresa é de 500 créditos
    Quando o Stripe envia de novo o aviso de fatura paga
    Então o saldo da empresa é de 500 créditos
    Quando o Stripe renova a assinatura e a cobrança é aprovada
    Então o saldo da empresa é de 1000 créditos

  Cenário: pagamento falho
    Dado que o administrador da empresa assina o plano "pro-mensal" e paga no Stripe
    Quando o Stripe renova a assinatura e a cobrança falha
    Então a assinatura da empresa está "past_due" com 7 dias de carência
    E "financeiro@exemplo.com.br" recebe um aviso de cobrança com o endereço da fatura
    E a empresa continua com acesso
    Quando a carência termina sem pagamento
    Então a empresa está suspensa com o motivo "Pagamento da assinatura pendente"
    Quando a empresa paga a fatura em atraso
    Então a empresa volta a ter acesso
    E a assinatura da empresa está "active"
    E o saldo da empresa é de 1000 créditos
