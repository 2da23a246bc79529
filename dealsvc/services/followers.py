"""The residents who follow a shop and may hear of its offers: the dispatcher's first wave and
the reach preview read them the same way."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..domain import geo, places


class FollowerQueries(Protocol):
    """What followers_in_reach needs of the database (SQL: db/queries/followers.py)."""

    def active_followers_with_places(self, shop_id: str) -> list[tuple[Any, list[Any]]]: ...


def followers_in_reach(q: FollowerQueries, shop_id: str, lat: float, lon: float, cap_m: float, now: datetime) -> list[tuple[int, float]]:
    """(subscriber key, distance) of the active residents who follow the shop and have a place
    that counts at `now` within `cap_m` of it (the operator's max_radius_m: their own radius
    does not limit them), with the distance from the nearest such place, rounded like every
    distance shown. Following a shop is asking for its offers, so categories do not filter."""
    found = []
    for row, extra in q.active_followers_with_places(shop_id):
        spots = [(row.lat, row.lon)] + [
            (p.lat, p.lon)
            for p in extra
            if places.counts_at(now, row.timezone, p.days, p.hours_start, p.hours_end)
        ]
        inside = [
            geo.distance_shown_m(lat, lon, s_lat, s_lon)
            for s_lat, s_lon in spots
            if geo.within(lat, lon, s_lat, s_lon, cap_m)
        ]
        if inside:
            found.append((row.pk, min(inside)))
    return found
