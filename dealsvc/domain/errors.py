"""Errors the use cases raise; the API turns each into its problem+json status.

`detail` and the messages in `errors` are `Text`s (domain/i18n.py) where a person reads them, so
the API and the pages can say them in the reader's language; `errors` keys are field names.
"""
from __future__ import annotations

from .i18n import Text


class DomainError(Exception):
    status = 400
    # What kind of problem, when the status's usual name does not say it (the API's and the
    # pages' own names for each status are used otherwise).
    title: Text | None = None

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class NotFound(DomainError):
    """Absent, or not the caller's: the two are never told apart."""

    status = 404


class Unauthorized(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    """The object's state forbids the change (expired, sold out, cancelled, duplicate)."""

    status = 409


class Unprocessable(DomainError):
    """Well-formed, but cannot be done as asked; `errors` names the fields."""

    status = 422


class RuleViolation(Unprocessable):
    """Well-formed, but breaks an operator rule; `errors` names the fields."""

    title = Text("Operator rule violated")


class Unavailable(DomainError):
    """A dependency is down for now; the client may retry after `retry_after` seconds."""

    status = 503

    def __init__(self, detail: str, retry_after: int = 5):
        super().__init__(detail)
        self.retry_after = retry_after
