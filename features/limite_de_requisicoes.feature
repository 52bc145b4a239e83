# language: pt
Funcionalidade: Limite de requisições
  Como operador do Garimpo
  Quero que cada tenant faça no máximo as requisições por minuto do seu plano
  Para que um cliente apressado não deixe a API lenta para os outros

  Contexto:
    Dado que o tenant "Vendas Sul" está num plano de 30 requisições por minuto
    E que o tenant "Vendas Norte" está num plano de 30 requisições por minuto

  Cenário: Quem passa do limite espera o tempo indicado, e os outros tenants seguem
    Quando o tenant "Vendas Sul" lista as suas chaves de API até ser recusado
    Então ao menos 30 requisições do tenant "Vendas Sul" foram atendidas
    E a recusa tem status 429 e o código "rate_limited"
    E a recusa diz em Retry-After quantos segundos esperar, no máximo 2
    E a recusa traz RateLimit-Limit 30, RateLimit-Remaining 0 e RateLimit-Policy "30;w=60"
    E o tenant "Vendas Norte" ainda lista as suas chaves de API, com 29 requisições restantes
    Quando o tenant "Vendas Sul" espera os segundos de Retry-After
    Então o tenant "Vendas Sul" volta a listar as suas chaves de API
