"""Shops."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from ....domain import offers as offer_rules
from ....domain.outbox import SHOP_CLOSED, FanoutKind, PushStatus
from ..models import Fanout, Merchant, Notification, Offer, Shop
from .base import OnSession


class ShopQueries(OnSession):
    def shop(self, shop_id: str, *, lock: bool = False) -> Shop | None:
        """`lock`: held until the transaction ends."""
        return self.session.get(Shop, shop_id, with_for_update=True) if lock else self.session.get(Shop, shop_id)

    def shops_of_merchant(self, merchant_id: str) -> list[Shop]:
        """The merchant's shops, the oldest first."""
        return list(self.session.scalars(select(Shop).where(Shop.merchant_id == merchant_id).order_by(Shop.created_at)))

    def count_shops_of_merchant(self, merchant_id: str) -> int:
        return self.session.scalar(select(func.count()).select_from(Shop).where(Shop.merchant_id == merchant_id))

    def add_shop(self, **columns: Any) -> Shop:
        shop = Shop(**columns)
        self.session.add(shop)
        return shop

    def lock_merchant_row(self, merchant_id: str) -> None:
        """The merchant's row, locked (exclusively) until the transaction ends."""
        self.session.scalar(select(Merchant.id).where(Merchant.id == merchant_id).with_for_update())

    def waiting_waves_of_shop(self, shop_id: str) -> list[tuple[Fanout, Offer]]:
        """The waves of the shop's offers not planned yet (their fan-outs of kind "offer" not
        done), each with its offer, in the order made; the fan-outs locked until the transaction
        ends (one a dispatcher holds is waited for, and read as it left it)."""
        return [(fanout, offer) for fanout, offer in self.session.execute(
            select(Fanout, Offer).join(Offer, Fanout.offer_id == Offer.id)
            .where(Offer.shop_id == shop_id, Fanout.kind == FanoutKind.OFFER, Fanout.done_at.is_(None))
            .order_by(Fanout.id)
            .with_for_update(of=Fanout)
        )]

    def redue_pushes_held_for_opening(self, shop_id: str, now: datetime) -> int:
        """The pushes of the shop's live offers that the old hours held back are due at `now`,
        pending; how many: those waiting for it to open (pending with reason shop_closed, due
        after `now`) and those given up because it would not open before their offer ended
        (suppressed, shop_closed). One statement: the shop's offers by their shop index, their
        pushes by the unique (offer, resident, kind) index."""
        live = select(Offer.id).where(Offer.shop_id == shop_id, Offer.status == offer_rules.ACTIVE, Offer.expires_at > now)
        waiting = and_(Notification.status == PushStatus.PENDING, Notification.due_at > now)
        return self.session.execute(
            update(Notification)
            .where(Notification.offer_id.in_(live), Notification.reason == SHOP_CLOSED,
                   or_(waiting, Notification.status == PushStatus.SUPPRESSED))
            .values(status=PushStatus.PENDING, due_at=now, pending_due_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
