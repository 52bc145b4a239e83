"""Errors raised by domain rules.

Each error carries a stable ``code`` for programs and a pt-BR ``detail`` for
people; the HTTP layer turns them into problem+json without rewording.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule violation that the caller can fix by changing its input."""

    code = "domain_error"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code is not None:
            self.code = code


class InvalidCnpj(DomainError):
    """Raised when a CNPJ has the wrong shape or check digits."""

    code = "invalid_cnpj"

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"CNPJ inválido '{value}': {reason}.", field="cnpj")
        self.value = value


class InvalidSearch(DomainError):
    """Raised when search criteria are malformed, inconsistent or name unknown codes."""

    code = "invalid_search"


class RuleViolation(DomainError):
    """Raised when a well-formed request breaks a business rule (HTTP 422).

    A wrong type or a malformed body is a 400; a body the API understood but
    cannot accept (a selection above the plan's limit, a lost lead without a
    reason, a custom field outside its schema) is this.
    """

    code = "rule_violation"


class NotFound(DomainError):
    """Raised when the requested resource does not exist (or belongs to another tenant)."""

    code = "not_found"


class Conflict(DomainError):
    """Raised when the request clashes with the current state (a taken e-mail, a used token)."""

    code = "conflict"


class AuthenticationFailed(DomainError):
    """Raised when the caller's credentials are missing, wrong, expired or revoked."""

    code = "authentication_failed"


class PermissionDenied(DomainError):
    """Raised when an authenticated caller may not do what it asked, or its tenant is suspended."""

    code = "permission_denied"


class TooManyAttempts(DomainError):
    """Raised when a throttle refuses the request; ``retry_after`` is in whole seconds."""

    code = "too_many_attempts"

    def __init__(
        self,
        detail: str,
        *,
        retry_after: int,
        code: str | None = None,
        extensions: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail, code=code)
        self.retry_after = max(1, retry_after)
        self.extensions = dict(extensions or {})
