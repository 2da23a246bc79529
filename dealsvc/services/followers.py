"""The residents who follow a shop and may hear of its offers: the dispatcher's first wave and
the reach preview read them the same way."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..adapters.db import Database
from ..adapters.db.models import Favorite, Subscriber, SubscriberPlace
from ..domain import geo, places


def followers_in_reach(db: Database, shop_id: str, lat: float, lon: float, cap_m: float, now: datetime) -> list[tuple[int, float]]:
    """(subscriber key, distance) of the active residents who follow the shop and have a place
    that counts at `now` within `cap_m` of it (the operator's max_radius_m: their own radius
    does not limit them), with the distance from the nearest such place, rounded like every
    distance shown. Following a shop is asking for its offers, so categories do not filter."""
    with db.read() as s:
        rows = s.execute(
            select(Subscriber.pk, Subscriber.lat, Subscriber.lon, Subscriber.timezone)
            .join(Favorite, Favorite.subscriber_pk == Subscriber.pk)
            .where(Favorite.shop_id == shop_id, Subscriber.active.is_(True))
        ).all()
        if not rows:
            return []
        # Read while the session is open: read() rolls back at its end, which expires the rows.
        extra: dict[int, list[tuple]] = {}
        for place in s.execute(
            select(SubscriberPlace.subscriber_pk, SubscriberPlace.lat, SubscriberPlace.lon, SubscriberPlace.days,
                   SubscriberPlace.hours_start, SubscriberPlace.hours_end)
            .where(SubscriberPlace.subscriber_pk.in_([row.pk for row in rows]))
        ):
            extra.setdefault(place.subscriber_pk, []).append(place)
    found = []
    for row in rows:
        spots = [(row.lat, row.lon)] + [
            (p.lat, p.lon)
            for p in extra.get(row.pk, [])
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
