# language: pt
Funcionalidade: Reserva e débito de créditos na qualificação
  Como gestora de vendas de um tenant
  Quero que só os pré-leads qualificados consumam créditos
  Para pagar apenas pelo que vira oportunidade de venda

  Cenário: Reserva ao iniciar a qualificação e débito só para o lead qualificado
    Dado um tenant com 10 créditos e 4 pré-leads selecionados
    Quando a qualificação começa para os 4 pré-leads
    Então o saldo mostra 10 créditos, 4 reservados e 6 disponíveis
    Quando o pré-lead 1 é classificado como qualificado
    E a mesma classificação do pré-lead 1 chega de novo
    Então o saldo mostra 9 créditos, 3 reservados e 6 disponíveis
    E o extrato tem 1 débito, do pré-lead 1

  Cenário: Liberação da reserva para os demais resultados
    Dado um tenant com 10 créditos e 4 pré-leads selecionados
    Quando a qualificação começa para os 4 pré-leads
    E o pré-lead 1 é classificado como qualificado
    E o pré-lead 2 termina como "sem interesse"
    E o pré-lead 3 termina como "número inválido"
    E o pré-lead 4 termina como "sem resposta"
    Então o saldo mostra 9 créditos, 0 reservados e 9 disponíveis
    E o extrato tem 3 liberações, dos pré-leads 2, 3 e 4

  Cenário: Saldo insuficiente para a seleção inteira
    Dado um tenant com 3 créditos e 5 pré-leads selecionados
    Quando a API é consultada sobre a cobertura de 5 pré-leads
    Então a API informa que o saldo cobre 3 dos 5 pré-leads
    Quando a qualificação começa para os 5 pré-leads
    Então a qualificação é recusada com o código "insufficient_credits" e 3 disponíveis
    E o saldo mostra 3 créditos, 0 reservados e 3 disponíveis
    Quando a qualificação começa para os 5 pré-leads aceitando cobertura parcial
    Então 3 pré-leads ficam com crédito reservado e 2 ficam de fora
    E o saldo mostra 3 créditos, 3 reservados e 0 disponíveis
