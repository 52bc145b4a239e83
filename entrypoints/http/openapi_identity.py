"""OpenAPI part: API keys (tenant and host) and the audit log."""

from __future__ import annotations

from typing import Any

from domain.identity import HOST_PERMISSIONS, TENANT_PERMISSIONS
from entrypoints.http.openapi_kit import (
    PAGE_PARAMETERS,
    envelope,
    json_content,
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
    {"name": "Chaves de API", "description": "Chaves para integrações e serviços internos."},
    {"name": "Auditoria", "description": "Quem fez o quê, quando e de onde."},
]


def _key_paths(base: str, side: str) -> dict[str, Any]:
    security = "host" if side == "host" else "tenant"
    prefix = "Host" if side == "host" else ""
    whose = "do host (serviços como o n8n)" if side == "host" else "do seu tenant"
    key_id = path_id("key_id", "Identificador da chave.")
    created = {
        "201": {
            "description": "A chave criada. O campo key só aparece nesta resposta: guarde-o.",
            "content": json_content(envelope("A chave e o seu segredo.", ref("IssuedApiKey"))),
        }
    }
    one = {
        "200": {
            "description": "A chave.",
            "content": json_content(envelope("A chave.", ref("ApiKey"))),
        }
    }
    return {
        base: {
            "get": operation(
                f"list{prefix}ApiKeys",
                "Chaves de API",
                f"Listar as chaves {whose}",
                "Lista as chaves ativas, da mais nova para a mais antiga; "
                "include_inactive=true inclui as revogadas e expiradas. O segredo nunca aparece.",
                security=security,
                parameters=[
                    *PAGE_PARAMETERS,
                    query(
                        "include_inactive",
                        "Incluir chaves revogadas e expiradas.",
                        {"type": "boolean", "default": False},
                    ),
                ],
                responses={
                    "200": {
                        "description": "Uma página de chaves.",
                        "content": json_content(ref("ApiKeyPage")),
                    }
                },
            ),
            "post": operation(
                f"create{prefix}ApiKey",
                "Chaves de API",
                f"Criar uma chave {whose}",
                "Cria uma chave com escopos e expiração opcional. A chave completa aparece "
                "uma única vez, nesta resposta; o Garimpo guarda só o resumo (hash) e o "
                "prefixo visível. Uma chave não pode ter escopos que quem a cria não tem.",
                security=security,
                body=ref("ApiKeyCreate"),
                body_example={
                    "name": "n8n produção" if side == "host" else "Integração CRM",
                    "scopes": sorted(HOST_PERMISSIONS if side == "host" else TENANT_PERMISSIONS)[
                        :2
                    ],
                    "expires_at": "2027-06-30T23:59:00-03:00",
                },
                responses=created,
            ),
        },
        base + "/{key_id}": {
            "get": operation(
                f"get{prefix}ApiKey",
                "Chaves de API",
                "Consultar uma chave",
                "Mostra a chave, seus escopos, o estado e o último uso.",
                security=security,
                parameters=[key_id],
                responses=one,
            ),
            "delete": operation(
                f"revoke{prefix}ApiKey",
                "Chaves de API",
                "Revogar uma chave",
                "Revoga a chave na hora: a próxima requisição com ela recebe 401 "
                "(api_key_revoked). Revogar de novo não muda nada.",
                security=security,
                parameters=[key_id],
                responses=one,
            ),
        },
        base + "/{key_id}/rotate": {
            "post": operation(
                f"rotate{prefix}ApiKey",
                "Chaves de API",
                "Rotacionar uma chave",
                "Cria uma nova chave com o mesmo nome, escopos e expiração, e mantém a antiga "
                "funcionando por overlap_seconds (padrão 86400, máximo 604800) para a troca "
                "sem parada. A nova chave aparece uma única vez, nesta resposta.",
                security=security,
                parameters=[key_id],
                body=ref("ApiKeyRotate"),
                body_required=False,
                body_example={"overlap_seconds": 3600},
                responses={**created, "409": response_ref("Conflict")},
            ),
        },
    }


def _audit_parameters(*, with_tenant: bool) -> list[dict[str, Any]]:
    parameters = [
        *PAGE_PARAMETERS,
        query(
            "action",
            "Só ações que começam com este texto (auth., api_key., tenant., host.).",
            {"type": "string"},
        ),
        query(
            "actor_id", "Só eventos deste usuário ou chave.", {"type": "string", "format": "uuid"}
        ),
        query(
            "since",
            "Desde este instante (ISO 8601 com fuso).",
            {"type": "string", "format": "date-time"},
        ),
        query(
            "until",
            "Até antes deste instante (ISO 8601 com fuso).",
            {"type": "string", "format": "date-time"},
        ),
    ]
    if with_tenant:
        parameters.append(
            query("tenant_id", "Só eventos deste tenant.", {"type": "string", "format": "uuid"})
        )
    return parameters


def paths() -> dict[str, Any]:
    audit_page = {
        "200": {
            "description": "Uma página de eventos.",
            "content": json_content(ref("AuditEventPage")),
        }
    }
    return {
        **_key_paths("/v1/api-keys", "tenant"),
        **_key_paths("/v1/host/api-keys", "host"),
        "/v1/audit": {
            "get": operation(
                "listTenantAuditEvents",
                "Auditoria",
                "Consultar a auditoria do seu tenant",
                "Eventos de autenticação e de administração do seu tenant, do mais novo "
                "para o mais antigo, incluindo as ações de administradores do host dentro dele.",
                security="tenant",
                parameters=_audit_parameters(with_tenant=False),
                responses=audit_page,
            )
        },
        "/v1/host/audit": {
            "get": operation(
                "listHostAuditEvents",
                "Auditoria",
                "Consultar a auditoria de toda a instalação",
                "Todos os eventos de host e de autenticação, do mais novo para o mais antigo.",
                security="host",
                parameters=_audit_parameters(with_tenant=True),
                responses=audit_page,
            )
        },
    }


def schemas() -> dict[str, Any]:
    all_scopes = sorted(TENANT_PERMISSIONS | HOST_PERMISSIONS)
    timestamp = {"type": ["string", "null"], "format": "date-time"}
    key_properties: dict[str, Any] = {
        "id": text("Identificador da chave.", fmt="uuid"),
        "name": text("Nome dado à chave."),
        "prefix": text("Parte visível da chave (gar_<prefixo>_...), para reconhecê-la."),
        "scopes": {
            "type": "array",
            "description": "O que a chave pode fazer.",
            "items": {"enum": all_scopes},
        },
        "status": {
            "enum": ["active", "expired", "revoked"],
            "description": "Estado da chave agora.",
        },
        "created_at": text("Quando foi criada.", fmt="date-time"),
        "expires_at": {**timestamp, "description": "Quando expira; null, nunca."},
        "last_used_at": {**timestamp, "description": "Último uso, com precisão de um minuto."},
        "revoked_at": {**timestamp, "description": "Quando foi revogada."},
        "created_by": text("Quem criou a chave.", nullable=True),
        "replaced_by": text("A chave que a substituiu numa rotação.", nullable=True),
    }
    return {
        "ApiKey": obj("Uma chave de API (sem o segredo).", key_properties),
        "IssuedApiKey": obj(
            "Uma chave recém-criada, com o segredo que não será mostrado de novo.",
            {**key_properties, "key": text("A chave completa. Guarde-a agora.")},
        ),
        "ApiKeyPage": page_of("Uma página de chaves.", "ApiKey"),
        "ApiKeyCreate": {
            **obj(
                "Dados da nova chave.",
                {
                    "name": text("Nome para reconhecer a chave (até 100 caracteres)."),
                    "scopes": {
                        "type": "array",
                        "minItems": 1,
                        "description": "Escopos da chave; uma chave do host só recebe escopos host:.",
                        "items": {"enum": all_scopes},
                    },
                    "expires_at": {**timestamp, "description": "Expiração opcional, no futuro."},
                },
                required=["name", "scopes"],
            ),
            "additionalProperties": False,
        },
        "ApiKeyRotate": {
            **obj(
                "Opções da rotação.",
                {
                    "overlap_seconds": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": 604800,
                        "default": 86400,
                        "description": "Por quantos segundos a chave antiga continua valendo.",
                    }
                },
                required=[],
            ),
            "additionalProperties": False,
        },
        "AuditEvent": obj(
            "Um evento de auditoria.",
            {
                "id": {"type": "integer", "description": "Número do evento."},
                "occurred_at": text("Quando aconteceu.", fmt="date-time"),
                "tenant_id": text("O tenant envolvido; null para eventos do host.", nullable=True),
                "actor_type": {
                    "enum": ["account", "api_key", "system", "anonymous"],
                    "description": "Tipo de quem agiu.",
                },
                "actor_id": text("Usuário ou chave que agiu.", nullable=True),
                "actor_label": text("E-mail do usuário ou nome da chave.", nullable=True),
                "acting_as_tenant": text(
                    "Tenant em que um administrador do host agia.", nullable=True
                ),
                "action": text("O que aconteceu (auth.login_succeeded, tenant.suspended, ...)."),
                "target_type": text("Tipo do registro afetado.", nullable=True),
                "target_id": text("Registro afetado.", nullable=True),
                "ip": text("Endereço de origem.", nullable=True),
                "user_agent": text("Navegador ou cliente de origem.", nullable=True),
                "request_id": text("A requisição que causou o evento.", nullable=True),
                "before": {"type": ["object", "null"], "description": "Valores antes da mudança."},
                "after": {"type": ["object", "null"], "description": "Valores depois da mudança."},
                "detail": {"type": ["object", "null"], "description": "Informações adicionais."},
            },
        ),
        "AuditEventPage": page_of("Uma página de eventos de auditoria.", "AuditEvent"),
    }
