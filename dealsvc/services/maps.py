"""The operator's map: live offers, residents as counts per grid cell (domain/privacy.density), and
the reach of a point. Exact figures for the operator, but never one resident's place."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..adapters.db import Database
from ..adapters.db.models import Offer, Shop, Subscriber, SubscriberPlace
from ..domain import offers as offer_rules
from ..domain import privacy
from ..domain.clock import Clock
from .figures import FiguresService

# The widest view the map counts residents for (degrees): about a metropolitan area. Wider, the
# page asks to zoom in (counting a country's residents per cell is no sight for one screen).
MAX_SPAN_LAT = 1.0
MAX_SPAN_LON = 2.0
# Live offers drawn at most (the newest first).
MAX_OFFERS = 500


@dataclass(frozen=True)
class Box:
    south: float
    west: float
    north: float
    east: float

    @property
    def too_wide(self) -> bool:
        return self.north - self.south > MAX_SPAN_LAT or self.east - self.west > MAX_SPAN_LON


class MapService:
    def __init__(self, db: Database, clock: Clock, figures: FiguresService):
        self.db = db
        self.clock = clock
        self.figures = figures

    def residents(self, box: Box) -> dict[str, Any]:
        """Active residents per grid cell for the cells whose centre is in `box`; only cells of
        privacy.FLOOR residents or more. Every place of a resident (main and extra) counts."""
        if box.too_wide:
            return {"too_wide": True, "cells": []}
        # Read a cell's width beyond the box: a cell whose centre is inside is then counted whole.
        edges = [privacy.cell(lat, box.west) for lat in (box.south, box.north)]
        pad_lat = max(c.north - c.south for c in edges)
        pad_lon = max(c.east - c.west for c in edges)
        s, w, n, e = box.south - pad_lat, box.west - pad_lon, box.north + pad_lat, box.east + pad_lon
        live = Subscriber.active.is_(True)
        with self.db.read() as session:
            main = session.execute(
                select(Subscriber.pk, Subscriber.lat, Subscriber.lon)
                .where(live, Subscriber.lat.between(s, n), Subscriber.lon.between(w, e))
            ).all()
            extra = session.execute(
                select(SubscriberPlace.subscriber_pk, SubscriberPlace.lat, SubscriberPlace.lon)
                .join(Subscriber, Subscriber.pk == SubscriberPlace.subscriber_pk)
                .where(live, SubscriberPlace.lat.between(s, n), SubscriberPlace.lon.between(w, e))
            ).all()
        cells = [
            {"cell": c.name, "south": c.south, "west": c.west, "north": c.north, "east": c.east, "residents": count}
            for c, count in privacy.density(list(main) + list(extra))
            if box.south <= c.lat <= box.north and box.west <= c.lon <= box.east
        ]
        return {"too_wide": False, "cells": cells}

    def offers(self, box: Box) -> list[dict[str, Any]]:
        """The live offers at shops inside `box`, newest first (at most MAX_OFFERS)."""
        now = self.clock()
        with self.db.read() as session:
            rows = session.execute(
                select(Offer.id, Offer.title, Offer.price_cents, Offer.discount_pct, Offer.quantity_left,
                       Offer.expires_at, Shop.name, Shop.lat, Shop.lon)
                .join(Shop, Shop.id == Offer.shop_id)
                .where(Offer.status == offer_rules.ACTIVE, Offer.expires_at > now,
                       Shop.lat.between(box.south, box.north), Shop.lon.between(box.west, box.east))
                .order_by(Offer.created_at.desc())
                .limit(MAX_OFFERS)
            ).all()
        return [
            {"id": r.id, "title": r.title, "price_cents": r.price_cents, "discount_pct": r.discount_pct,
             "quantity_left": r.quantity_left, "expires_at": r.expires_at, "shop": r.name, "lat": r.lat, "lon": r.lon}
            for r in rows
        ]

    def reach(self, lat: float, lon: float, category: str | None = None) -> int:
        """What the reach service says (GET /api/v1/admin/reach): the operator's exact figure."""
        return self.figures.reach(lat, lon, category)
