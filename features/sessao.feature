# language: pt
Funcionalidade: Login, renovação e revogação de sessão
  Como usuária de uma empresa cliente do Garimpo
  Quero entrar com e-mail e senha e manter a sessão aberta com segurança
  Para usar a API sem digitar a senha a toda hora, e encerrar o acesso quando preciso

  Contexto:
    Dado que a empresa "Distribuidora Horizonte" tem a vendedora "ana@horizonte.com.br" com a senha "cavalo correto bateria"

  Cenário: Entrar com e-mail e senha
    Quando entro com o e-mail "ana@horizonte.com.br" e a senha "cavalo correto bateria"
    Então recebo um token de acesso válido por 15 minutos e um token de renovação
    E o token de acesso mostra a usuária "ana@horizonte.com.br" com o papel "sales" na empresa "Distribuidora Horizonte"

  Cenário: Senha errada e e-mail desconhecido recebem a mesma resposta
    Quando entro com o e-mail "ana@horizonte.com.br" e a senha "senha errada"
    Então o login é recusado com o erro 401 e o código "invalid_credentials"
    Quando entro com o e-mail "ninguem@horizonte.com.br" e a senha "cavalo correto bateria"
    Então o login é recusado com o erro 401 e o código "invalid_credentials"

  Cenário: Renovar a sessão troca os dois tokens
    Dado que entrei com o e-mail "ana@horizonte.com.br" e a senha "cavalo correto bateria"
    Quando renovo a sessão com o token de renovação
    Então recebo um novo token de acesso e um novo token de renovação
    E o novo token de acesso funciona na mesma sessão

  Cenário: Reusar um token de renovação encerra a sessão inteira
    Dado que entrei com o e-mail "ana@horizonte.com.br" e a senha "cavalo correto bateria"
    E que renovei a sessão uma vez
    Quando renovo a sessão de novo com o primeiro token de renovação
    Então a renovação é recusada com o erro 401 e o código "refresh_token_reused"
    E o token de acesso renovado é recusado com o código "session_revoked"
    E o token de renovação mais novo é recusado com o código "session_revoked"
    E consigo entrar de novo com o e-mail "ana@horizonte.com.br" e a senha "cavalo correto bateria"

  Cenário: Sair encerra a sessão na hora
    Dado que entrei com o e-mail "ana@horizonte.com.br" e a senha "cavalo correto bateria"
    E que o token de acesso funciona
    Quando saio da sessão
    Então o token de acesso é recusado com o erro 401 e o código "session_revoked"
    E o token de renovação é recusado com o código "session_revoked"

  Cenário: A conta é bloqueada depois de 5 senhas erradas seguidas
    Quando erro a senha de "ana@horizonte.com.br" 4 vezes seguidas
    Então o login é recusado com o erro 401 e o código "invalid_credentials"
    Quando erro a senha de "ana@horizonte.com.br" mais uma vez
    Então o login é recusado com o erro 429 e o código "account_locked"
    E o detalhe do erro diz até que horas, no horário de Brasília, a conta fica bloqueada
    E a resposta pede para tentar de novo em no máximo 15 minutos
    Quando entro com o e-mail "ana@horizonte.com.br" e a senha "cavalo correto bateria"
    Então o login é recusado com o erro 429 e o código "account_locked"
