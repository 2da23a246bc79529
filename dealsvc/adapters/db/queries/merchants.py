"""Merchants, and the live offers of their shops."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ....domain import offers as offer_rules
from ..models import Merchant, Offer, Shop
from .base import OnSession


class MerchantQueries(OnSession):
    def merchant(self, merchant_id: str, *, lock: bool = False) -> Merchant | None:
        """`lock`: held until the transaction ends (a change of standing waits for what holds it)."""
        if not lock:
            return self.session.get(Merchant, merchant_id)
        return self.session.scalar(select(Merchant).where(Merchant.id == merchant_id).with_for_update())

    def merchant_status(self, merchant_id: str, *, hold: bool = False) -> str | None:
        """None: no such merchant. `hold`: a shared lock held until the transaction ends."""
        q = select(Merchant.status).where(Merchant.id == merchant_id)
        return self.session.scalar(q.with_for_update(read=True) if hold else q)

    def merchants(self, status: str | None = None) -> list[Merchant]:
        """The oldest first; of one status when it is given."""
        q = select(Merchant).order_by(Merchant.created_at)
        if status:
            q = q.where(Merchant.status == status)
        return list(self.session.scalars(q))

    def merchant_names(self, merchant_ids: set[str]) -> dict[str, str]:
        if not merchant_ids:
            return {}
        return dict(self.session.execute(select(Merchant.id, Merchant.name).where(Merchant.id.in_(merchant_ids))).all())

    def add_merchant(self, merchant_id: str, name: str, email: str, status: str, api_key_hash: str,
                     created_at: datetime) -> Merchant | None:
        """The new merchant; None, and nothing written, when one with this email is registered
        (two sign-ups racing past the look-up: the unique constraint decides)."""
        if self.session.scalar(select(Merchant.id).where(Merchant.email == email)) is not None:
            return None
        merchant = Merchant(id=merchant_id, name=name, email=email, status=status, api_key_hash=api_key_hash,
                            created_at=created_at)
        try:
            with self.session.begin_nested():
                self.session.add(merchant)
        except IntegrityError:
            return None
        return merchant

    def live_offers_of_merchant(self, merchant_id: str, now: datetime) -> list[Offer]:
        """The offers of the merchant's shops still on show (active or sold out, unexpired),
        locked until the transaction ends, in the order every path locks offers in."""
        return list(self.session.scalars(
            select(Offer)
            .join(Shop, Offer.shop_id == Shop.id)
            .where(
                Shop.merchant_id == merchant_id,
                Offer.status.in_([offer_rules.ACTIVE, offer_rules.SOLD_OUT]),
                Offer.expires_at > now,
            )
            .order_by(Offer.id)
            .with_for_update(of=Offer)
        ))
