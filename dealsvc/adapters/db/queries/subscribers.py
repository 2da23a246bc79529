"""Residents' subscriptions."""
from __future__ import annotations

from sqlalchemy import select

from ..models import Subscriber
from .base import OnSession


class SubscriberQueries(OnSession):
    def live_subscriber(self, subscriber_id: str, *, lock: bool = False) -> Subscriber | None:
        """The subscription, unless deleted; `lock`: held until the transaction ends, so a
        resident's concurrent changes queue."""
        q = select(Subscriber).where(Subscriber.id == subscriber_id, Subscriber.deleted_at.is_(None))
        if lock:
            q = q.with_for_update()
        return self.session.scalar(q)
