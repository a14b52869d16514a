"""Domain errors, mapped to HTTP in one place (see marketplace.app)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose; the message is shown to the user."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class NotFound(DomainError):
    """Missing, or not visible to the caller: both answer the same."""

    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class ValidationFailed(DomainError):
    """Input that breaks a rule; `errors` lists `{"field", "message"}` entries."""

    status_code = 422
    code = "validation_failed"


class AuthenticationRequired(DomainError):
    status_code = 401
    code = "authentication_required"


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class ServiceUnavailable(DomainError):
    """A service the request needs (the container engine) cannot be reached; try later."""

    status_code = 503
    code = "service_unavailable"
