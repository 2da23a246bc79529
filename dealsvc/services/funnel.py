"""What alerts earned: a resident's report that they opened a push, and a shop's funnel (told ->
opened -> reserved -> collected) per offer, per distance ring and per posting hour, as its
merchant may see it (domain/funnel.py, domain/privacy.py)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from ..adapters.db import Database
from ..adapters.db.models import Notification, Offer, Reservation, Shop, Subscriber
from ..domain import funnel
from ..domain import reservations as hold_rules
from ..domain.clock import Clock
from ..domain.errors import NotFound
from ..domain.i18n import Text
from ..domain.outbox import PushKind, PushStatus
from .auth import Principal

_TOLD = aliased(Notification, name="told")
_OPENED = aliased(Notification, name="opened")


def ring_of(told):
    """An alert's distance ring, from its distance (the rings' bounds from domain/funnel.py)."""
    return case(
        *((told.distance_m < ring.high, ring.key) for ring in funnel.RINGS if ring.high is not None),
        else_=case((told.distance_m.is_not(None), funnel.RINGS[-1].key)),
    )


def opened_by(told):
    """Whether its resident opened the alert or a price drop of the offer (a withdrawal says
    the deal is gone: not earned)."""
    return exists().where(_OPENED.offer_id == told.offer_id, _OPENED.subscriber_pk == told.subscriber_pk,
                          _OPENED.kind != PushKind.WITHDRAW, _OPENED.opened_at.is_not(None))


def reserved_by(told, collected: bool = False):
    """Whether its resident reserved (and collected) the offer."""
    same = (Reservation.offer_id == told.offer_id, Reservation.subscriber_pk == told.subscriber_pk)
    return exists().where(*same, *((Reservation.status == hold_rules.COLLECTED,) if collected else ()))


def _stage(told, live, kept):
    """A stage of an alert: worked out while it is linked to its resident, and as it was kept
    when the retention period cut that link (services/retention.py)."""
    return or_(and_(told.subscriber_pk.is_not(None), live), and_(told.subscriber_pk.is_(None), kept.is_(True)))


def _share(condition):
    return func.sum(case((condition, 1), else_=0))


# The database counts, per offer and ring, the residents its alert was sent to and how far each
# went (a handful of rows a shop, however many were told).
_RING = case((_TOLD.subscriber_pk.is_(None), _TOLD.kept_ring), else_=ring_of(_TOLD)).label("ring")
_COUNTED = select(
    _TOLD.offer_id,
    _RING,
    func.count().label("told"),
    _share(_stage(_TOLD, opened_by(_TOLD), _TOLD.kept_opened)).label("opened"),
    _share(_stage(_TOLD, reserved_by(_TOLD), _TOLD.kept_reserved)).label("reserved"),
    _share(_stage(_TOLD, reserved_by(_TOLD, collected=True), _TOLD.kept_collected)).label("collected"),
).where(_TOLD.kind == PushKind.OFFER, _TOLD.status == PushStatus.SENT)

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
            rows = s.execute(_COUNTED.where(_TOLD.offer_id.in_(of_shop)).group_by(_TOLD.offer_id, _RING)).all()
        result = funnel.tally(
            {o["id"]: o["hour"] for o in offers},
            (funnel.Counted(row.offer_id, row.ring, funnel.Tally(row.told, int(row.opened), int(row.reserved),
                                                                  int(row.collected))) for row in rows),
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
