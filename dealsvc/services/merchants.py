"""Merchants: sign-up (active, or pending the operator's approval) and moderation."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..adapters.db import Database
from ..adapters.db.models import Merchant
from ..domain.clock import Clock
from ..domain.credentials import MERCHANT_PREFIX, hash_secret, new_id, new_secret
from ..domain.errors import Conflict, NotFound
from .rules import RulesService

ACTIVE, PENDING, SUSPENDED = "active", "pending", "suspended"


def merchant_view(m: Merchant) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "email": m.email, "status": m.status, "created_at": m.created_at}


class MerchantService:
    def __init__(self, db: Database, clock: Clock, rules: RulesService):
        self.db = db
        self.clock = clock
        self.rules = rules

    def register(self, name: str, email: str) -> dict[str, Any]:
        api_key = new_secret(MERCHANT_PREFIX)
        email = email.strip().lower()
        try:
            with self.db.write() as s:
                if s.scalar(select(Merchant.id).where(Merchant.email == email)) is not None:
                    raise Conflict(
                        "A merchant with this email is already registered.",
                        {"email": ["is already registered."]},
                    )
                rules = self.rules.current(s)
                m = Merchant(
                    id=new_id("mer"),
                    name=name,
                    email=email,
                    status=PENDING if rules.merchant_approval_required else ACTIVE,
                    api_key_hash=hash_secret(api_key),
                    created_at=self.clock(),
                )
                s.add(m)
        except IntegrityError:
            # Two sign-ups with the same email raced past the check; the constraint decided.
            raise Conflict("A merchant with this email is already registered.", {"email": ["is already registered."]}) from None
        return {**merchant_view(m), "api_key": api_key}

    def get(self, merchant_id: str) -> dict[str, Any]:
        with self.db.read() as s:
            m = s.get(Merchant, merchant_id)
            if m is None:
                raise NotFound("No such merchant.")
            return merchant_view(m)

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as s:
            q = select(Merchant).order_by(Merchant.created_at)
            if status:
                q = q.where(Merchant.status == status)
            return [merchant_view(m) for m in s.scalars(q)]

    def set_status(self, merchant_id: str, status: str) -> dict[str, Any]:
        with self.db.write() as s:
            m = s.get(Merchant, merchant_id)
            if m is None:
                raise NotFound("No such merchant.")
            m.status = status
            return merchant_view(m)
