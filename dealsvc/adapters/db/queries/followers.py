"""The residents who follow a shop, where they are: the first wave of every offer reads them."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..models import Favorite, Subscriber, SubscriberPlace
from .base import OnSession


class FollowerQueries(OnSession):
    def active_followers_with_places(self, shop_id: str) -> list[tuple[Any, list[Any]]]:
        """The active residents who follow the shop, as rows of (pk, lat, lon, timezone), each
        with their other places as rows of (lat, lon, days, hours_start, hours_end): plain
        column rows (two statements, whatever the number of followers), never ORM objects."""
        rows = self.session.execute(
            select(Subscriber.pk, Subscriber.lat, Subscriber.lon, Subscriber.timezone)
            .join(Favorite, Favorite.subscriber_pk == Subscriber.pk)
            .where(Favorite.shop_id == shop_id, Subscriber.active.is_(True))
        ).all()
        if not rows:
            return []
        extra: dict[int, list[Any]] = {}
        for place in self.session.execute(
            select(SubscriberPlace.subscriber_pk, SubscriberPlace.lat, SubscriberPlace.lon, SubscriberPlace.days,
                   SubscriberPlace.hours_start, SubscriberPlace.hours_end)
            .where(SubscriberPlace.subscriber_pk.in_([row.pk for row in rows]))
        ):
            extra.setdefault(place.subscriber_pk, []).append(place)
        return [(row, extra.get(row.pk, [])) for row in rows]
