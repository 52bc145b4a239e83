"""OpenAPI part: login and sessions, password reset, invitations, a tenant's users, host admins."""

from __future__ import annotations

from typing import Any

from domain.accounts import MAX_FAILED_LOGINS
from domain.identity import HOST_PERMISSIONS, MIN_PASSWORD_LENGTH, TENANT_PERMISSIONS, Role
from entrypoints.http.openapi_kit import (
    PAGE_PARAMETERS,
    envelope,
    json_content,
    nullable_ref,
    obj,
    operation,
    page_of,
    path_id,
    query,
    ref,
    response_ref,
    text,
)

TAGS = [
    {
        "name": "Autenticação",
        "description": "Login com e-mail e senha, renovação e encerramento de sessão, "
        "redefinição de senha e aceite de convites.",
    },
    {"name": "Usuários", "description": "Os usuários do seu tenant e os convites para novos."},
    {
        "name": "Administradores do host",
        "description": "Quem opera esta instalação do Garimpo.",
    },
]

_TENANT_ROLES = [Role.ADMIN.value, Role.SALES.value, Role.VIEWER.value]
_CONFLICT = {"409": response_ref("Conflict")}
_NO_STORE = "A resposta traz Cache-Control: no-store."


def _problem(description: str, schema: str = "Problem") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": ref(schema)}},
    }


def _session_issued(description: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "content": json_content(envelope("A sessão aberta.", ref("IssuedSession"))),
        }
    }


def _closed(description: str) -> dict[str, Any]:
    return {"204": {"description": description}}


def _auth_paths() -> dict[str, Any]:
    return {
        "/v1/auth/login": {
            "post": operation(
                "login",
                "Autenticação",
                "Entrar com e-mail e senha",
                "Confere a senha e abre uma sessão: devolve o token de acesso (JWT, para "
                "Authorization: Bearer) e o token de renovação, que vale uma única vez em "
                "POST /v1/auth/refresh. E-mail desconhecido e senha errada recebem a mesma "
                f"resposta 401 (invalid_credentials). Depois de {MAX_FAILED_LOGINS} senhas "
                "erradas seguidas, a conta fica bloqueada por 15 minutos (429 account_locked, "
                "com locked_until e o horário de Brasília no detail). Falhas demais a partir "
                "de um mesmo endereço (mais de 20 em 15 minutos) recebem 429 "
                f"too_many_login_attempts. {_NO_STORE}",
                security="public",
                body=ref("LoginRequest"),
                body_example={"email": "ana@empresa.com.br", "password": "uma senha longa"},
                responses={
                    **_session_issued("Login feito."),
                    "401": _problem(
                        "E-mail ou senha incorretos, conta desativada ou convite ainda não "
                        "aceito: sempre invalid_credentials, sem dizer qual."
                    ),
                    "403": _problem(
                        "Senha certa, mas o tenant está suspenso (tenant_suspended, com o "
                        "motivo no detail) ou foi excluído (tenant_deleted)."
                    ),
                    "429": _problem(
                        "Conta bloqueada (account_locked, com locked_until) ou tentativas "
                        "demais deste endereço (too_many_login_attempts). Retry-After diz em "
                        "quantos segundos tentar de novo.",
                        "LoginThrottledProblem",
                    ),
                },
            )
        },
        "/v1/auth/refresh": {
            "post": operation(
                "refreshSession",
                "Autenticação",
                "Renovar a sessão",
                "Troca o token de renovação por um novo token de acesso e um novo token de "
                "renovação; o token enviado deixa de valer. Se um token já usado for enviado "
                "de novo, a sessão inteira é encerrada (refresh_token_reused), porque alguém "
                f"pode tê-lo copiado. {_NO_STORE}",
                security="public",
                body=ref("RefreshRequest"),
                body_example={"refresh_token": "Zq7...token de renovação..."},
                responses={
                    **_session_issued("Sessão renovada."),
                    "401": _problem(
                        "Token desconhecido (invalid_refresh_token), expirado "
                        "(refresh_token_expired), reutilizado (refresh_token_reused), sessão "
                        "encerrada (session_revoked) ou usuário desativado (account_disabled)."
                    ),
                    "403": _problem("O tenant está suspenso ou foi excluído."),
                },
            )
        },
        "/v1/auth/logout": {
            "post": operation(
                "logout",
                "Autenticação",
                "Sair",
                "Encerra a sessão do token de acesso enviado; com all_sessions=true, encerra "
                "todas as sessões do usuário. O token de acesso e os de renovação dessas "
                "sessões param de valer na hora.",
                security="session",
                body=ref("LogoutRequest"),
                body_required=False,
                body_example={"all_sessions": True},
                responses=_closed("Sessão encerrada."),
            )
        },
        "/v1/auth/me": {
            "get": operation(
                "getCurrentUser",
                "Autenticação",
                "Ver o usuário da sessão",
                f"O usuário do token de acesso, seu papel, seu tenant e o que ele pode fazer. {_NO_STORE}",
                security="session",
                responses={
                    "200": {
                        "description": "O usuário da sessão.",
                        "content": json_content(envelope("O usuário.", ref("CurrentUser"))),
                    }
                },
            )
        },
        "/v1/auth/password-reset": {
            "post": operation(
                "requestPasswordReset",
                "Autenticação",
                "Pedir a redefinição de senha",
                "Se houver uma conta ativa com o e-mail, envia a ele um código de uso único "
                "válido por 1 hora. A resposta é sempre 202, exista a conta ou não. Um novo "
                "pedido para a mesma conta em menos de 60 segundos não envia outro e-mail.",
                security="public",
                body=ref("PasswordResetRequest"),
                body_example={"email": "ana@empresa.com.br"},
                responses={
                    "202": {
                        "description": "Pedido recebido.",
                        "content": json_content(
                            envelope("O pedido recebido.", ref("PasswordResetAccepted"))
                        ),
                    }
                },
            )
        },
        "/v1/auth/password-reset/confirm": {
            "post": operation(
                "confirmPasswordReset",
                "Autenticação",
                "Definir a nova senha",
                "Troca a senha com o código do e-mail. O código vale uma única vez "
                "(reset_token_used na segunda) e por 1 hora (reset_token_expired depois). A "
                "troca encerra todas as sessões da conta e desfaz um bloqueio por senhas erradas.",
                security="public",
                body=ref("PasswordResetConfirm"),
                body_example={"token": "código do e-mail", "password": "uma senha nova e longa"},
                responses={**_closed("Senha trocada."), **_CONFLICT},
            )
        },
        "/v1/auth/invitations/accept": {
            "post": operation(
                "acceptInvitation",
                "Autenticação",
                "Aceitar um convite",
                "Ativa a conta convidada com a senha escolhida (e o nome, se enviado) e já "
                "abre uma sessão, com a mesma resposta do login. O código do convite vale uma "
                f"única vez e por 7 dias. {_NO_STORE}",
                security="public",
                body=ref("InvitationAccept"),
                body_example={
                    "token": "código do e-mail de convite",
                    "name": "Ana Souza",
                    "password": "uma senha longa",
                },
                responses={
                    **_session_issued("Convite aceito e sessão aberta."),
                    "403": _problem("O tenant está suspenso ou foi excluído."),
                    **_CONFLICT,
                },
            )
        },
    }


def _user_paths() -> dict[str, Any]:
    user_id = path_id("user_id", "Identificador do usuário.")
    single_user = {
        "200": {
            "description": "O usuário.",
            "content": json_content(envelope("O usuário.", ref("User"))),
        }
    }
    invited = {
        "201": {
            "description": "O usuário convidado.",
            "content": json_content(envelope("O usuário convidado.", ref("User"))),
        }
    }
    return {
        "/v1/users": {
            "get": operation(
                "listUsers",
                "Usuários",
                "Listar os usuários",
                "Os usuários do seu tenant, em ordem de nome, com filtros por papel e situação.",
                security="tenant",
                parameters=[
                    *PAGE_PARAMETERS,
                    query("role", "Só usuários com este papel.", {"enum": _TENANT_ROLES}),
                    query(
                        "status",
                        "Só usuários nesta situação.",
                        {"enum": ["invited", "active", "disabled"]},
                    ),
                ],
                responses={
                    "200": {
                        "description": "Uma página de usuários.",
                        "content": json_content(ref("UserPage")),
                    }
                },
            ),
            "post": operation(
                "inviteUser",
                "Usuários",
                "Convidar um usuário",
                "Cria o usuário como convidado e envia a ele um e-mail com um código de "
                "convite válido por 7 dias. Convidados contam no limite de usuários do plano "
                "(user_limit_reached); um e-mail que já tem conta no Garimpo recebe 409 "
                "(email_taken).",
                security="tenant",
                body=ref("UserInvite"),
                body_example={
                    "email": "bruno@empresa.com.br",
                    "name": "Bruno Lima",
                    "role": "sales",
                },
                responses={**invited, **_CONFLICT},
            ),
        },
        "/v1/users/{user_id}": {
            "get": operation(
                "getUser",
                "Usuários",
                "Consultar um usuário",
                "Os dados de um usuário do seu tenant.",
                security="tenant",
                parameters=[user_id],
                responses=single_user,
            ),
            "patch": operation(
                "updateUser",
                "Usuários",
                "Alterar um usuário",
                "Muda o nome, o papel ou a situação (active ou disabled). Desativar encerra "
                "as sessões do usuário na hora. O último administrador ativo não pode perder o "
                "papel nem ser desativado (last_admin). Reativar conta no limite do plano; um "
                "usuário desativado antes de aceitar o convite volta a convidado e recebe um "
                "novo convite.",
                security="tenant",
                parameters=[user_id],
                body=ref("UserUpdate"),
                body_example={"role": "viewer"},
                responses={**single_user, **_CONFLICT},
            ),
            "delete": operation(
                "disableUser",
                "Usuários",
                "Desativar um usuário",
                "Desativa o usuário (os dados e a auditoria ficam) e encerra as suas sessões "
                "na hora. Desativar de novo não muda nada.",
                security="tenant",
                parameters=[user_id],
                responses={**single_user, **_CONFLICT},
            ),
        },
        "/v1/host/admins": {
            "get": operation(
                "listHostAdmins",
                "Administradores do host",
                "Listar os administradores do host",
                "Os administradores desta instalação, em ordem de nome.",
                security="host",
                parameters=[
                    *PAGE_PARAMETERS,
                    query(
                        "status",
                        "Só administradores nesta situação.",
                        {"enum": ["invited", "active", "disabled"]},
                    ),
                ],
                responses={
                    "200": {
                        "description": "Uma página de administradores.",
                        "content": json_content(ref("UserPage")),
                    }
                },
            ),
            "post": operation(
                "inviteHostAdmin",
                "Administradores do host",
                "Convidar um administrador do host",
                "Cria o administrador como convidado e envia a ele um código de convite válido "
                "por 7 dias, aceito em POST /v1/auth/invitations/accept.",
                security="host",
                body=ref("HostAdminInvite"),
                body_example={"email": "operacao@garimpo.com.br", "name": "Carla Dias"},
                responses={**invited, **_CONFLICT},
            ),
        },
    }


def paths() -> dict[str, Any]:
    return {**_auth_paths(), **_user_paths()}


def _closed_object(
    description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {**obj(description, properties, required=required), "additionalProperties": False}


def _password(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": 1024, "description": description}


def schemas() -> dict[str, Any]:
    timestamp = {"type": ["string", "null"], "format": "date-time"}
    email = {"type": "string", "maxLength": 320, "description": "E-mail de login."}
    user_properties: dict[str, Any] = {
        "id": text("Identificador do usuário.", fmt="uuid"),
        "email": text("E-mail de login, em minúsculas."),
        "name": text("Nome do usuário."),
        "role": {"enum": [role.value for role in Role], "description": "Papel do usuário."},
        "role_label": text("O papel em português."),
        "status": {
            "enum": ["invited", "active", "disabled"],
            "description": "invited: ainda não aceitou o convite; active: pode entrar; "
            "disabled: desativado.",
        },
        "tenant_id": text("O tenant do usuário; null para administradores do host.", nullable=True),
        "locked_until": {
            **timestamp,
            "description": "Até quando o login está bloqueado por senhas erradas; null sem bloqueio.",
        },
        "last_login_at": {**timestamp, "description": "Último login."},
        "created_at": text("Quando foi criado.", fmt="date-time"),
        "updated_at": text("Última alteração.", fmt="date-time"),
    }
    all_permissions = sorted(TENANT_PERMISSIONS | HOST_PERMISSIONS)
    return {
        "LoginRequest": _closed_object(
            "E-mail e senha.",
            {"email": email, "password": _password("A senha, exatamente como digitada.")},
            ["email", "password"],
        ),
        "RefreshRequest": _closed_object(
            "O token de renovação recebido no login ou na última renovação.",
            {"refresh_token": text("O token de renovação.")},
            ["refresh_token"],
        ),
        "LogoutRequest": _closed_object(
            "Opções do logout.",
            {
                "all_sessions": {
                    "type": "boolean",
                    "default": False,
                    "description": "Encerrar todas as sessões do usuário, não só esta.",
                }
            },
            [],
        ),
        "SessionUser": obj(
            "O usuário que entrou.",
            {
                "id": text("Identificador do usuário.", fmt="uuid"),
                "email": text("E-mail de login."),
                "name": text("Nome do usuário."),
                "role": {"enum": [role.value for role in Role], "description": "Papel."},
                "tenant_id": text("O tenant; null para administradores do host.", nullable=True),
            },
        ),
        "IssuedSession": obj(
            "Os tokens de uma sessão.",
            {
                "access_token": text("Token de acesso (JWT), para Authorization: Bearer <token>."),
                "token_type": {"const": "Bearer", "description": "Sempre Bearer."},
                "expires_in": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Segundos até o token de acesso expirar.",
                },
                "refresh_token": text(
                    "Token de renovação, de uso único, para POST /v1/auth/refresh."
                ),
                "refresh_expires_at": text(
                    "Até quando o token de renovação vale.", fmt="date-time"
                ),
                "user": ref("SessionUser"),
            },
        ),
        "TenantSummary": obj(
            "O tenant do usuário.",
            {
                "id": text("Identificador do tenant.", fmt="uuid"),
                "name": text("Nome do tenant."),
                "status": {
                    "enum": ["active", "suspended", "deleted"],
                    "description": "Situação do tenant.",
                },
            },
        ),
        "User": obj("Um usuário.", user_properties),
        "UserPage": page_of("Uma página de usuários.", "User"),
        "CurrentUser": obj(
            "O usuário da sessão, seu tenant e suas permissões.",
            {
                **user_properties,
                "tenant": {
                    **nullable_ref("TenantSummary"),
                    "description": "null para administradores do host.",
                },
                "permissions": {
                    "type": "array",
                    "description": "O que o usuário pode fazer.",
                    "items": {"enum": all_permissions},
                },
                "session_id": text("A sessão deste token de acesso.", fmt="uuid"),
            },
        ),
        "UserInvite": _closed_object(
            "O usuário a convidar.",
            {
                "email": email,
                "name": text("Nome do usuário (até 200 caracteres)."),
                "role": {"enum": _TENANT_ROLES, "description": "Papel no tenant."},
            },
            ["email", "name", "role"],
        ),
        "UserUpdate": {
            **_closed_object(
                "Os campos a mudar; ao menos um.",
                {
                    "name": text("Novo nome."),
                    "role": {"enum": _TENANT_ROLES, "description": "Novo papel."},
                    "status": {
                        "enum": ["active", "disabled"],
                        "description": "active reativa; disabled desativa e encerra as sessões.",
                    },
                },
                [],
            ),
            "minProperties": 1,
        },
        "HostAdminInvite": _closed_object(
            "O administrador do host a convidar.",
            {"email": email, "name": text("Nome do administrador.")},
            ["email", "name"],
        ),
        "PasswordResetRequest": _closed_object("O e-mail da conta.", {"email": email}, ["email"]),
        "PasswordResetAccepted": obj(
            "O pedido de redefinição foi recebido.",
            {"detail": text("O que acontece agora, em português.")},
        ),
        "PasswordResetConfirm": _closed_object(
            "O código do e-mail e a nova senha.",
            {
                "token": text("O código recebido por e-mail."),
                "password": _password(
                    f"A nova senha: de {MIN_PASSWORD_LENGTH} a 256 caracteres, diferente do e-mail."
                ),
            },
            ["token", "password"],
        ),
        "InvitationAccept": _closed_object(
            "O código do convite, a senha escolhida e, se quiser, o nome.",
            {
                "token": text("O código recebido no e-mail de convite."),
                "name": text("O nome, para corrigir o que o administrador digitou."),
                "password": _password(
                    f"A senha: de {MIN_PASSWORD_LENGTH} a 256 caracteres, diferente do e-mail."
                ),
            },
            ["token", "password"],
        ),
        "LoginThrottledProblem": {
            "description": "Login recusado por bloqueio da conta ou excesso de tentativas.",
            "allOf": [
                ref("Problem"),
                {
                    "type": "object",
                    "required": ["retry_after"],
                    "properties": {
                        "retry_after": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "Segundos até poder tentar de novo (o mesmo do "
                            "cabeçalho Retry-After).",
                        },
                        "locked_until": text(
                            "Até quando a conta fica bloqueada (só em account_locked).",
                            fmt="date-time",
                        ),
                    },
                },
            ],
        },
    }
