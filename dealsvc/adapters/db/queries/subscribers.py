"""Residents' subscriptions: the row, its places, and what forgetting a resident removes."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from ..models import Favorite, Notification, Offer, Subscriber, SubscriberPlace
from .base import OnSession


class SubscriberQueries(OnSession):
    def live_subscriber(self, subscriber_id: str, *, lock: bool = False) -> Subscriber | None:
        """The subscription, unless deleted; `lock`: held until the transaction ends, so a
        resident's concurrent changes queue."""
        q = select(Subscriber).where(Subscriber.id == subscriber_id, Subscriber.deleted_at.is_(None))
        if lock:
            q = q.with_for_update()
        return self.session.scalar(q)

    def add_subscriber(self, **columns: Any) -> Subscriber:
        """A new subscription with these columns (its places: replace_places)."""
        sub = Subscriber(**columns)
        self.session.add(sub)
        return sub

    def deactivate_token_holders(self, fcm_token: str, now: datetime, *, except_pk: int | None = None) -> None:
        """Every active subscription on this push token (but `except_pk`'s) stops, deactivated `now`."""
        stmt = update(Subscriber).where(Subscriber.fcm_token == fcm_token, Subscriber.active.is_(True))
        if except_pk is not None:
            stmt = stmt.where(Subscriber.pk != except_pk)
        self.session.execute(stmt.values(active=False, updated_at=now, deactivated_at=now))

    def replace_places(self, sub: Subscriber, places: list[dict[str, Any]]) -> None:
        """The subscription's places become `places` (their columns but the position, which is
        their order from 1)."""
        if sub.places:
            sub.places.clear()
            # The old rows go first: the new ones take the same (subscriber, position) keys.
            self.session.flush()
        for position, columns in enumerate(places, start=1):
            sub.places.append(SubscriberPlace(position=position, **columns))

    def remove_favorites_of(self, subscriber_pk: int) -> None:
        self.session.execute(delete(Favorite).where(Favorite.subscriber_pk == subscriber_pk))

    def alerts_sent_to(self, subscriber_pk: int) -> list[tuple[Notification, str, str]]:
        """The resident's pushes, each with its offer's title and shop id, the oldest first."""
        return list(self.session.execute(
            select(Notification, Offer.title, Offer.shop_id)
            .join(Offer, Notification.offer_id == Offer.id)
            .where(Notification.subscriber_pk == subscriber_pk)
            .order_by(Notification.created_at, Notification.id)
        ).all())
