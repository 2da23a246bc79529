"""Errors the use cases raise; the API turns each into its problem+json status."""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class NotFound(DomainError):
    """Absent, or not the caller's: the two are never told apart."""

    status = 404
    title = "Not found"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    """The object's state forbids the change (expired, sold out, cancelled, duplicate)."""

    status = 409
    title = "Conflict"


class Unprocessable(DomainError):
    """Well-formed, but cannot be done as asked; `errors` names the fields."""

    status = 422
    title = "Unprocessable request"


class RuleViolation(Unprocessable):
    """Well-formed, but breaks an operator rule; `errors` names the fields."""

    title = "Operator rule violated"


class Unavailable(DomainError):
    """A dependency is down for now; the client may retry after `retry_after` seconds."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str, retry_after: int = 5):
        super().__init__(detail)
        self.retry_after = retry_after
