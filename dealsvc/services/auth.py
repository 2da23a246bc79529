"""Who is calling: the operator, a merchant or a resident's device, from a bearer secret."""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from ..adapters.db import Database
from ..adapters.db.models import Merchant, Subscriber, WebSession
from ..domain.clock import Clock, system_clock
from ..domain.credentials import MERCHANT_PREFIX, SUBSCRIBER_PREFIX, hash_secret
from ..domain.errors import Forbidden, Unauthorized
from ..domain.i18n import Text

OPERATOR, MERCHANT, SUBSCRIBER = "operator", "merchant", "subscriber"


@dataclass(frozen=True)
class Principal:
    role: str
    id: str | None = None
    status: str | None = None  # a merchant's status


# How long a page session lasts without signing in again (the cookie's lifetime too).
PAGE_SESSION_LIFETIME = timedelta(hours=12)


class AuthService:
    def __init__(self, db: Database, admin_token: str, clock: Clock = system_clock):
        self.db = db
        self.clock = clock
        self._admin_token = admin_token.encode("utf-8")

    def authenticate(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthorized(Text("Send 'Authorization: Bearer <secret>'."))
        if hmac.compare_digest(secret.encode("utf-8"), self._admin_token):
            return Principal(OPERATOR)
        digest = hash_secret(secret)
        with self.db.read() as s:
            if secret.startswith(MERCHANT_PREFIX):
                m = s.scalar(select(Merchant).where(Merchant.api_key_hash == digest))
                if m is not None:
                    return Principal(MERCHANT, m.id, m.status)
            elif secret.startswith(SUBSCRIBER_PREFIX):
                sub = s.scalar(select(Subscriber.id).where(Subscriber.secret_hash == digest))
                if sub is not None:
                    return Principal(SUBSCRIBER, sub)
        raise Unauthorized(Text("The credentials are not valid."))


    # --- the pages' sessions: held here, so that signing out ends them everywhere at once ---

    def open_session(self, role: str, subject: str) -> str:
        """A new session for who just signed in; its id (for the cookie) is shown only here."""
        session_id, now = secrets.token_urlsafe(32), self.clock()
        with self.db.write() as s:
            s.execute(delete(WebSession).where(WebSession.expires_at <= now))  # the expired ones
            s.add(WebSession(id_hash=hash_secret(session_id), role=role, subject=subject,
                             created_at=now, expires_at=now + PAGE_SESSION_LIFETIME))
        return session_id

    def session_subject(self, session_id: str | None, role: str) -> str | None:
        """Whom a live session of this role was opened for; None once signed out or expired."""
        if not session_id or not isinstance(session_id, str):
            return None
        with self.db.read() as s:
            row = s.get(WebSession, hash_secret(session_id))
            if row is None or row.role != role or row.expires_at <= self.clock():
                return None
            return row.subject

    def close_session(self, session_id: str | None) -> None:
        if session_id and isinstance(session_id, str):
            with self.db.write() as s:
                s.execute(delete(WebSession).where(WebSession.id_hash == hash_secret(session_id)))


def require_role(principal: Principal, *roles: str) -> Principal:
    if principal.role not in roles:
        raise Forbidden(Text("This needs one of these roles: {roles}.", roles=", ".join(roles)))
    return principal
