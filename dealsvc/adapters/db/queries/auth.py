"""Who is calling: the look-ups of credentials by their hash, and the pages' sessions."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from ..models import Merchant, Subscriber, WebSession
from .base import OnSession


class AuthQueries(OnSession):
    def merchant_with_key(self, api_key_hash: str) -> Merchant | None:
        return self.session.scalar(select(Merchant).where(Merchant.api_key_hash == api_key_hash))

    def subscriber_id_with_secret(self, secret_hash: str) -> str | None:
        """The subscription's id (deleted ones too: their secret is replaced when deleted)."""
        return self.session.scalar(select(Subscriber.id).where(Subscriber.secret_hash == secret_hash))

    def web_session(self, id_hash: str) -> WebSession | None:
        return self.session.get(WebSession, id_hash)

    def add_web_session(self, id_hash: str, role: str, subject: str, created_at: datetime,
                        expires_at: datetime) -> None:
        self.session.add(WebSession(id_hash=id_hash, role=role, subject=subject, created_at=created_at,
                                    expires_at=expires_at))

    def delete_web_session(self, id_hash: str) -> None:
        self.session.execute(delete(WebSession).where(WebSession.id_hash == id_hash))

    def delete_expired_web_sessions(self, now: datetime) -> None:
        self.session.execute(delete(WebSession).where(WebSession.expires_at <= now))

    def delete_web_sessions_of(self, role: str, subject: str) -> None:
        """Every session opened for this subject in this role: signed out everywhere."""
        self.session.execute(delete(WebSession).where(WebSession.role == role, WebSession.subject == subject))
