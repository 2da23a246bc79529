"""What alerts earned: a resident's report that they opened a push, and a shop's funnel (told ->
opened -> reserved -> collected) per offer, per distance ring and per posting hour, as its
merchant may see it (domain/funnel.py, domain/privacy.py)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ..adapters.db import Database
from ..adapters.db.models import Notification, Offer, Reservation, Shop, Subscriber
from ..domain import funnel
from ..domain import reservations as hold_rules
from ..domain.clock import Clock
from ..domain.errors import NotFound
from ..domain.i18n import Text
from ..domain.outbox import PushKind, PushStatus
from .auth import Principal

# Notification ids are integers the database made; anything else (or out of its range) names nothing.
_MAX_ID = 2**31 - 1


def _notification_id(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 0 < int(value) <= _MAX_ID:
        raise NotFound(Text("No such notification."))
    return int(value)


class FunnelService:
    def __init__(self, db: Database, clock: Clock, secret: bytes):
        self.db = db
        self.clock = clock
        self.secret = secret  # the offsets of merchants' figures (domain/privacy.py)

    def opened(self, subscriber: Principal, notification_id: str) -> None:
        """The resident opened the push: kept once (the first time); any resident but the one it
        was sent to finds no such notification."""
        nid = _notification_id(notification_id)
        now = self.clock()
        with self.db.write() as s:
            found = s.execute(
                select(Notification.opened_at)
                .join(Subscriber, Subscriber.pk == Notification.subscriber_pk)
                .where(Notification.id == nid, Subscriber.id == subscriber.id)
            ).first()
            if found is None:
                raise NotFound(Text("No such notification."))
            if found.opened_at is None:
                s.execute(update(Notification).where(Notification.id == nid, Notification.opened_at.is_(None))
                          .values(opened_at=now))

    def _shop(self, s, merchant: Principal, shop_id: str) -> Shop:
        shop = s.scalar(select(Shop).where(Shop.id == shop_id, Shop.merchant_id == merchant.id))
        if shop is None:
            raise NotFound(Text("No such shop."))
        return shop

    def exact(self, shop_id: str) -> tuple[list[dict[str, Any]], funnel.ShopFunnel]:
        """The shop's offers (newest first, with their posting hour on the shop's clock) and its
        exact funnel: for no merchant's eyes (the tests, and `for_merchant` below)."""
        with self.db.read() as s:
            zone = s.scalar(select(Shop.timezone).where(Shop.id == shop_id)) or "UTC"
            offers = [
                {**row._asdict(), "hour": funnel.posting_hour(row.created_at, zone)}
                for row in s.execute(
                    select(Offer.id, Offer.title, Offer.status, Offer.quantity, Offer.created_at, Offer.expires_at)
                    .where(Offer.shop_id == shop_id)
                    .order_by(Offer.created_at.desc(), Offer.id)
                )
            ]
            of_shop = select(Offer.id).where(Offer.shop_id == shop_id).scalar_subquery()
            told = s.execute(
                select(Notification.offer_id, Notification.subscriber_pk, Notification.distance_m)
                .where(Notification.offer_id.in_(of_shop), Notification.kind == PushKind.OFFER,
                       Notification.status == PushStatus.SENT)
            ).all()
            # An alert or a price drop opened (a withdrawal says the deal is gone: not earned).
            opened = set(
                s.execute(
                    select(Notification.offer_id, Notification.subscriber_pk).distinct()
                    .where(Notification.offer_id.in_(of_shop), Notification.opened_at.is_not(None),
                           Notification.kind != PushKind.WITHDRAW)
                ).all()
            )
            reserved: dict[tuple[str, int], bool] = {}
            for row in s.execute(
                select(Reservation.offer_id, Reservation.subscriber_pk, Reservation.status)
                .where(Reservation.offer_id.in_(of_shop))
            ):
                key = (row.offer_id, row.subscriber_pk)
                reserved[key] = reserved.get(key, False) or row.status == hold_rules.COLLECTED
        result = funnel.tally(
            {o["id"]: o["hour"] for o in offers},
            (
                funnel.Told(
                    offer_id=t.offer_id,
                    distance_m=t.distance_m,
                    opened=(t.offer_id, t.subscriber_pk) in opened,
                    reserved=(t.offer_id, t.subscriber_pk) in reserved,
                    collected=reserved.get((t.offer_id, t.subscriber_pk), False),
                )
                for t in told
            ),
        )
        return offers, result

    def for_merchant(self, merchant: Principal, shop_id: str) -> dict[str, Any]:
        """The shop's funnel as its merchant may see it: every count of residents coarse (0: too
        few to show); how many offers were posted at an hour is the merchant's own, exact."""
        with self.db.read() as s:
            self._shop(s, merchant, shop_id)
        offers, found = self.exact(shop_id)

        def shown(t: funnel.Tally) -> dict[str, int]:
            return funnel.coarse(t.as_dict(), self.secret, shop_id)

        return {
            "shop_id": shop_id,
            "offers": [{**o, **shown(found.offers[o["id"]])} for o in offers],
            "rings": [
                {"ring": ring.key, "from_m": ring.low, "to_m": ring.high, **shown(found.rings[ring.key])}
                for ring in funnel.RINGS
            ],
            "hours": [
                {"hour": hour, "offers": found.offers_per_hour[hour], **shown(found.hours[hour])}
                for hour in sorted(found.hours)
            ],
        }
