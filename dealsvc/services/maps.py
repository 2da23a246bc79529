"""The operator's map: live offers, residents as counts per grid cell (domain/privacy.density), and
the reach of a point. Exact figures for the operator, but never one resident's place."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..domain import privacy
from ..domain.clock import Clock
from .figures import FiguresService
from .ports import Transactions

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


class MapQueries(Protocol):
    """What MapService needs of the database (SQL: queries/maps.py in the database adapter)."""

    # (resident, lat, lon) of each place inside the box
    def active_resident_places_in(self, south: float, west: float, north: float, east: float) -> list[tuple[Any, float, float]]: ...
    def live_offers_in(self, south: float, west: float, north: float, east: float, now: datetime,
                       limit: int) -> list[dict[str, Any]]: ...


class MapService:
    def __init__(self, store: Transactions[MapQueries], clock: Clock, figures: FiguresService):
        self.store = store
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
        with self.store.read() as q:
            places = q.active_resident_places_in(s, w, n, e)
        cells = [
            {"cell": c.name, "south": c.south, "west": c.west, "north": c.north, "east": c.east, "residents": count}
            for c, count in privacy.density(places)
            if box.south <= c.lat <= box.north and box.west <= c.lon <= box.east
        ]
        return {"too_wide": False, "cells": cells}

    def offers(self, box: Box) -> list[dict[str, Any]]:
        """The live offers at shops inside `box`, newest first (at most MAX_OFFERS)."""
        now = self.clock()
        with self.store.read() as q:
            return q.live_offers_in(box.south, box.west, box.north, box.east, now, MAX_OFFERS)

    def reach(self, lat: float, lon: float, category: str | None = None) -> int:
        """What the reach service says (GET /api/v1/admin/reach): the operator's exact figure."""
        return self.figures.reach(lat, lon, category)
