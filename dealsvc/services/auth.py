"""Who is calling: the operator, a merchant or a resident's device, from a bearer secret."""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import select

from ..adapters.db import Database
from ..adapters.db.models import Merchant, Subscriber
from ..domain.credentials import MERCHANT_PREFIX, SUBSCRIBER_PREFIX, hash_secret
from ..domain.errors import Forbidden, Unauthorized

OPERATOR, MERCHANT, SUBSCRIBER = "operator", "merchant", "subscriber"


@dataclass(frozen=True)
class Principal:
    role: str
    id: str | None = None
    status: str | None = None  # a merchant's status


class AuthService:
    def __init__(self, db: Database, admin_token: str):
        self.db = db
        self._admin_token = admin_token.encode("utf-8")

    def authenticate(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthorized("Send 'Authorization: Bearer <secret>'.")
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
        raise Unauthorized("The credentials are not valid.")


def require_role(principal: Principal, *roles: str) -> Principal:
    if principal.role not in roles:
        raise Forbidden(f"This needs the {' or '.join(roles)} role.")
    return principal
