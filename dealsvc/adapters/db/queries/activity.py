"""The operator's charts: counts per hour, each in one statement and one pass over the window."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from ....domain import offers as offer_rules
from ....domain.outbox import PushKind, PushStatus
from ..models import Notification, Offer
from .base import OnSession


class ActivityQueries(OnSession):
    def _activity_per_hour(self, column, condition, starts: list[datetime]) -> list[int]:
        """One statement, one pass over the rows of the window, whatever the engine: a count per hour."""
        hour = timedelta(hours=1)
        counts = [func.count(case((and_(column >= start, column < start + hour), 1))) for start in starts]
        return [int(n) for n in self.session.execute(select(*counts).where(condition, column >= starts[0])).one()]

    def alerts_per_hour_sent(self, starts: list[datetime]) -> list[int]:
        """Offer alerts sent, per hour starting at each of `starts`, by when they were sent."""
        return self._activity_per_hour(Notification.sent_at,
                              and_(Notification.kind == PushKind.OFFER, Notification.status == PushStatus.SENT), starts)

    def alerts_per_hour_queued(self, status: str, starts: list[datetime]) -> list[int]:
        """Offer alerts of this status, per hour starting at each of `starts`, by when they were queued."""
        return self._activity_per_hour(Notification.created_at,
                              and_(Notification.kind == PushKind.OFFER, Notification.status == status), starts)

    def offers_per_hour_posted(self, starts: list[datetime]) -> list[int]:
        return self._activity_per_hour(Offer.created_at, Offer.id.is_not(None), starts)

    def offers_per_hour_sold_out(self, starts: list[datetime]) -> list[int]:
        """Sold-out offers, by when they last changed."""
        return self._activity_per_hour(Offer.updated_at, Offer.status == offer_rules.SOLD_OUT, starts)
