"""What every route module shares: the services, the caller's identity, documented errors."""
from __future__ import annotations

import http
from functools import wraps

from flask import current_app, request

from ..bootstrap import Container
from ..domain.errors import NotFound
from ..domain.i18n import Text
from ..domain.text import storable
from ..services.auth import Principal, require_role
from .problems import Blueprint


def services() -> Container:
    return current_app.extensions["dealsvc"]


def refuse_unstorable_ids(endpoint: str | None, values: dict | None) -> None:
    """An id in the path with a NUL in it names nothing (and PostgreSQL cannot even compare it)."""
    if values and not all(storable(v) for v in values.values()):
        raise NotFound(Text("Nothing has this id."))


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def caller() -> Principal:
    """The request's authenticated caller, looked up once (the rate limiter may ask before the route)."""
    principal = request.environ.get("dealsvc.caller")
    if principal is None:
        principal = request.environ["dealsvc.caller"] = services().auth.authenticate(bearer())
    return principal


def errors(blp: Blueprint, *codes: int):
    """Document problem+json responses for these status codes."""

    def decorator(fn):
        for code in codes:
            fn = blp.alt_response(code, response=http.HTTPStatus(code).name)(fn)
        return fn

    return decorator


def auth(blp: Blueprint, *roles: str):
    """Authenticate before anything else (a bad body from a stranger is a 401, not a 400) and
    hand the caller to the view as `principal`."""

    def decorator(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            principal = caller()
            require_role(principal, *roles)
            return fn(*args, principal=principal, **kwargs)

        wrapper = Blueprint.doc(security=[{"bearerAuth": []}])(wrapper)
        # 429: too many refused secrets from this address (api/limits.py, FAILED_AUTH).
        return errors(blp, 401, 403, 429)(wrapper)

    return decorator
