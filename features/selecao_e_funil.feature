# language: pt
Funcionalidade: Seleção de pré-leads e funil de leads
  Como vendedor de uma empresa cliente
  Quero separar pré-leads sem gastar créditos, não ter leads repetidos e mover leads no funil
  Para trabalhar cada empresa uma vez só e saber quem mudou cada lead de etapa

  Contexto:
    Dado que a empresa "Distribuidora Serra Azul" tem uma chave de API e 50 créditos
    E que a base conhece 100 padarias de Curitiba com telefone e e-mail

  Cenário: selecionar 100 pré-leads sem débito de crédito
    Quando seleciono as 100 padarias pela lista de CNPJs com o nome "Padarias de Curitiba"
    Então a seleção "Padarias de Curitiba" é criada com 100 pré-leads
    E nenhum pré-lead da seleção está sinalizado
    E o saldo continua de 50 créditos, sem nenhuma reserva
    E o extrato de créditos da empresa não tem lançamentos além da concessão

  Cenário: lead duplicado não é criado
    Dado que importei a padaria 1 como lead com o telefone "(41) 99876-5432"
    Quando importo a padaria 1 de novo
    Então a importação responde que a padaria 1 já era lead
    E a empresa tem 1 lead para o CNPJ da padaria 1
    Quando importo a padaria 2 com o telefone "+55 41 9 9876-5432"
    Então a padaria 2 entra como possível duplicado da padaria 1
    E a lista de leads não mostra a padaria 2
    Quando resolvo a padaria 2 como a mesma empresa
    Então a padaria 2 não é mais encontrada
    E a lista de leads mostra só a padaria 1

  Cenário: mover lead no funil registra evento
    Dado que importei a padaria 3 como lead
    E que a empresa cadastrou um webhook para o evento "lead.stage_changed"
    Quando movo a padaria 3 para a etapa "Proposta"
    Então a padaria 3 está na etapa "Proposta"
    E o histórico da padaria 3 tem a mudança de "Novo" para "Proposta" feita pela chave de API
    E o webhook "lead.stage_changed" fica na fila de entrega com as etapas "Novo" e "Proposta"
    Quando movo a padaria 3 para a etapa "Perdido" sem motivo
    Então a mudança é recusada com o erro 422 e o código "reason_required"
    Quando movo a padaria 3 para a etapa "Perdido" com o motivo "Comprou de um concorrente"
    Então a padaria 3 está na etapa "Perdido" com o motivo "Comprou de um concorrente"
