"""Who is calling: the operator, a merchant or a resident's device, from a bearer secret."""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..domain.clock import Clock, system_clock
from ..domain.credentials import MERCHANT_PREFIX, SUBSCRIBER_PREFIX, hash_secret
from ..domain.errors import Forbidden, Unauthorized
from ..domain.i18n import Text
from .ports import Transactions

OPERATOR, MERCHANT, SUBSCRIBER = "operator", "merchant", "subscriber"


@dataclass(frozen=True)
class Principal:
    role: str
    id: str | None = None
    status: str | None = None  # a merchant's status


# How long a page session lasts without signing in again (the cookie's lifetime too).
PAGE_SESSION_LIFETIME = timedelta(hours=12)


class AuthQueries(Protocol):
    """What AuthService needs of the database (SQL: the db adapter's queries/auth.py)."""

    def merchant_with_key(self, api_key_hash: str) -> Any | None: ...
    def subscriber_id_with_secret(self, secret_hash: str) -> str | None: ...
    def web_session(self, id_hash: str) -> Any | None: ...
    def add_web_session(self, id_hash: str, role: str, subject: str, created_at: datetime,
                        expires_at: datetime) -> None: ...
    def delete_web_session(self, id_hash: str) -> None: ...
    def delete_expired_web_sessions(self, now: datetime) -> None: ...


class AuthService:
    def __init__(self, store: Transactions[AuthQueries], admin_token: str, clock: Clock = system_clock):
        self.store = store
        self.clock = clock
        self._admin_token = admin_token.encode("utf-8")

    def authenticate(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthorized(Text("Send 'Authorization: Bearer <secret>'."))
        if hmac.compare_digest(secret.encode("utf-8"), self._admin_token):
            return Principal(OPERATOR)
        digest = hash_secret(secret)
        with self.store.read() as q:
            if secret.startswith(MERCHANT_PREFIX):
                m = q.merchant_with_key(digest)
                if m is not None:
                    return Principal(MERCHANT, m.id, m.status)
            elif secret.startswith(SUBSCRIBER_PREFIX):
                sub = q.subscriber_id_with_secret(digest)
                if sub is not None:
                    return Principal(SUBSCRIBER, sub)
        raise Unauthorized(Text("The credentials are not valid."))


    # --- the pages' sessions: held here, so that signing out ends them everywhere at once ---

    def open_session(self, role: str, subject: str) -> str:
        """A new session for who just signed in; its id (for the cookie) is shown only here."""
        session_id, now = secrets.token_urlsafe(32), self.clock()
        with self.store.write() as q:
            q.delete_expired_web_sessions(now)
            q.add_web_session(hash_secret(session_id), role, subject, now, now + PAGE_SESSION_LIFETIME)
        return session_id

    def session_subject(self, session_id: str | None, role: str) -> str | None:
        """Whom a live session of this role was opened for; None once signed out or expired."""
        if not session_id or not isinstance(session_id, str):
            return None
        with self.store.read() as q:
            row = q.web_session(hash_secret(session_id))
            if row is None or row.role != role or row.expires_at <= self.clock():
                return None
            return row.subject

    def close_session(self, session_id: str | None) -> None:
        if session_id and isinstance(session_id, str):
            with self.store.write() as q:
                q.delete_web_session(hash_secret(session_id))


def require_role(principal: Principal, *roles: str) -> Principal:
    if principal.role not in roles:
        raise Forbidden(Text("This needs one of these roles: {roles}.", roles=", ".join(roles)))
    return principal
