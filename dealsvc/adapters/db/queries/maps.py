"""The operator's map: where residents are (to be counted per cell) and the live offers in a box
(services/maps.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ....domain import offers as offer_rules
from ..models import Offer, Shop, Subscriber, SubscriberPlace
from .base import OnSession


class MapQueries(OnSession):
    def active_resident_places_in(self, south: float, west: float, north: float, east: float) -> list[tuple[int, float, float]]:
        """(subscriber key, lat, lon) of every place of an active resident inside the box: their
        main place and their extra ones, a resident once per place."""
        live = Subscriber.active.is_(True)
        main = self.session.execute(
            select(Subscriber.pk, Subscriber.lat, Subscriber.lon)
            .where(live, Subscriber.lat.between(south, north), Subscriber.lon.between(west, east))
        ).all()
        extra = self.session.execute(
            select(SubscriberPlace.subscriber_pk, SubscriberPlace.lat, SubscriberPlace.lon)
            .join(Subscriber, Subscriber.pk == SubscriberPlace.subscriber_pk)
            .where(live, SubscriberPlace.lat.between(south, north), SubscriberPlace.lon.between(west, east))
        ).all()
        return list(main) + list(extra)

    def live_offers_in(self, south: float, west: float, north: float, east: float, now: datetime, limit: int) -> list[dict[str, Any]]:
        """The offers active and not expired at `now` at shops inside the box, newest first (at
        most `limit`): the offer's id, title, price_cents, discount_pct, quantity_left,
        expires_at, and its shop's name (`shop`), lat and lon."""
        rows = self.session.execute(
            select(Offer.id, Offer.title, Offer.price_cents, Offer.discount_pct, Offer.quantity_left,
                   Offer.expires_at, Shop.name, Shop.lat, Shop.lon)
            .join(Shop, Shop.id == Offer.shop_id)
            .where(Offer.status == offer_rules.ACTIVE, Offer.expires_at > now,
                   Shop.lat.between(south, north), Shop.lon.between(west, east))
            .order_by(Offer.created_at.desc())
            .limit(limit)
        ).all()
        return [
            {"id": r.id, "title": r.title, "price_cents": r.price_cents, "discount_pct": r.discount_pct,
             "quantity_left": r.quantity_left, "expires_at": r.expires_at, "shop": r.name, "lat": r.lat, "lon": r.lon}
            for r in rows
        ]
