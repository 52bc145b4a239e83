# language: pt
Funcionalidade: Qualificação automática de pré-leads
  Como vendedor de uma empresa cliente
  Quero que o Garimpo contate cada pré-lead por WhatsApp, SMS e e-mail e leia as respostas
  Para pagar só pelos leads que mostraram interesse e nunca insistir com quem pediu para sair

  Contexto:
    Dado que a empresa "Distribuidora Serra Azul" tem uma chave de API e 10 créditos
    E que ela envia mensagens a qualquer hora e espera 60 minutos por uma resposta
    E que a base conhece 3 padarias de Curitiba com celular e e-mail
    E que o celular da padaria 2 não tem WhatsApp

  Cenário: qualificar lote por WhatsApp com fallback para SMS e e-mail
    Quando seleciono as 3 padarias e começo a qualificação
    Então 3 créditos ficam reservados
    Quando o Garimpo executa os passos vencidos
    Então a padaria 1 recebeu 1 mensagem por "whatsapp"
    E a padaria 2 recebeu 1 mensagem por "sms"
    E a padaria 3 recebeu 1 mensagem por "whatsapp"
    Quando a padaria 1 responde "Sim, tenho interesse!" por "whatsapp"
    E o prazo de resposta acaba e o Garimpo executa os passos vencidos
    Então a padaria 2 recebeu 1 mensagem por "email"
    E a padaria 3 recebeu 1 mensagem por "sms"
    Quando a padaria 2 responde "Quero saber mais, pode ligar" por "email"
    E o prazo de resposta acaba e o Garimpo executa os passos vencidos
    Então a padaria 3 recebeu 1 mensagem por "email"
    Quando o prazo de resposta acaba e o Garimpo executa os passos vencidos
    Então a qualificação termina com a padaria 1 "qualified", a padaria 2 "qualified" e a padaria 3 "no_answer"
    E o saldo fica em 8 créditos, sem nenhuma reserva

  Cenário: resposta de descadastro bloqueia novos envios
    Quando seleciono a padaria 1 e começo a qualificação
    E o Garimpo executa os passos vencidos
    E a padaria 1 responde "Por favor, SAIR da lista" por "whatsapp"
    Então a qualificação termina com a padaria 1 "opt_out"
    E a padaria 1 recebeu uma confirmação de descadastro
    E o saldo fica em 10 créditos, sem nenhuma reserva
    Quando seleciono a padaria 1 de novo
    Então a padaria 1 vem sinalizada como descadastrada
    E começar a qualificação é recusado com o erro 422 e o código "nothing_to_qualify"
    E a padaria 1 não recebeu nenhuma mensagem depois da confirmação

  Cenário: lead qualificado consome o crédito reservado
    Quando seleciono as padarias 1 e 3 e começo a qualificação
    E o Garimpo executa os passos vencidos
    Então 2 créditos ficam reservados
    Quando a padaria 1 responde "sim, pode ligar" por "whatsapp"
    Então a padaria 1 vira lead na etapa "Qualificado" com a classificação "qualified"
    E o saldo fica em 9 créditos, com 1 reservado
    Quando a padaria 3 responde "Não tenho interesse, obrigado" por "whatsapp"
    Então o saldo fica em 9 créditos, sem nenhuma reserva
    E o extrato tem 1 débito da padaria 1 e 1 reserva liberada
