"""Merchants: sign-up (active, or pending the operator's approval) and moderation."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..adapters.db import Database
from ..adapters.db.models import Merchant, Offer, Shop
from ..adapters.db.queries import Queries
from ..domain import offers as offer_rules
from ..domain.audit import Actor, status_action
from ..domain.clock import Clock
from ..domain.credentials import MERCHANT_PREFIX, hash_secret, new_id, new_secret
from ..domain.errors import Conflict, NotFound
from ..domain.i18n import Text
from ..domain.merchants import ACTIVE, PENDING, SUSPENDED
from .audit import record
from .lifecycle import end_offer
from .rules import RulesService


def merchant_standing(s: Session, merchant_id: str, *, hold: bool = True) -> str:
    """The merchant's status, with `hold` held for the rest of the transaction: a suspension
    (which locks the row) waits for it, or it waits for the suspension and reads it. So an
    offer posted or changed at the moment of a suspension is either withdrawn by it or refused."""
    q = select(Merchant.status).where(Merchant.id == merchant_id)
    status = s.scalar(q.with_for_update(read=True) if hold else q)
    if status is None:
        raise NotFound(Text("No such merchant."))
    return status


def withdraw_live_offers(s: Session, merchant_id: str, now: datetime) -> int:
    """Every live offer of the merchant's shops is withdrawn, as the shop would withdraw it:
    residents told get the withdrawal, pending pushes are dropped, holds end."""
    offers = s.scalars(
        select(Offer)
        .join(Shop, Offer.shop_id == Shop.id)
        .where(
            Shop.merchant_id == merchant_id,
            Offer.status.in_([offer_rules.ACTIVE, offer_rules.SOLD_OUT]),
            Offer.expires_at > now,
        )
        .order_by(Offer.id)  # the order every path locks offers in
        .with_for_update(of=Offer)
    ).all()
    for offer in offers:
        end_offer(Queries(s), offer, offer_rules.CANCELLED, now)
    return len(offers)


def merchant_view(m: Merchant) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "email": m.email, "status": m.status, "created_at": m.created_at,
            "erased_at": m.erased_at}


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
                        Text("A merchant with this email is already registered."),
                        {"email": [Text("is already registered.")]},
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
            raise Conflict(Text("A merchant with this email is already registered."), {"email": [Text("is already registered.")]}) from None
        return {**merchant_view(m), "api_key": api_key}

    def get(self, merchant_id: str) -> dict[str, Any]:
        with self.db.read() as s:
            m = s.get(Merchant, merchant_id)
            if m is None:
                raise NotFound(Text("No such merchant."))
            return merchant_view(m)

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as s:
            q = select(Merchant).order_by(Merchant.created_at)
            if status:
                q = q.where(Merchant.status == status)
            return [merchant_view(m) for m in s.scalars(q)]

    def set_status(self, merchant_id: str, status: str, actor: Actor | None = None) -> dict[str, Any]:
        """Approve (active) or suspend, kept in the operator's audit. Suspending withdraws the
        merchant's live offers at once."""
        now = self.clock()
        with self.db.write() as s:
            # Locked before the offers are read: a post or change in flight (merchant_standing)
            # commits first and its offer is withdrawn below, or it waits and is refused.
            m = s.scalar(select(Merchant).where(Merchant.id == merchant_id).with_for_update())
            if m is None:
                raise NotFound(Text("No such merchant."))
            if m.erased_at is not None and status != SUSPENDED:
                # Its name, e-mail and key are gone: an account nobody can use, not to be listed as active.
                raise Conflict(Text("This merchant's personal data was erased: the account stays suspended."))
            before, m.status = m.status, status
            withdrawn = withdraw_live_offers(s, m.id, now) if status == SUSPENDED else 0
            record(s, actor, status_action(status), now, target=m.id,
                   detail={"status_before": before, "offers_withdrawn": withdrawn})
            return {**merchant_view(m), "offers_withdrawn": withdrawn}
