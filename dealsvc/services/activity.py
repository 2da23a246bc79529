"""The operator's charts: pushes sent, failed and suppressed, offers posted and sold out, per
hour over the last day. Exact figures (operators see aggregates, domain/privacy.py)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select

from ..adapters.db import Database
from ..adapters.db.models import Notification, Offer
from ..domain import offers as offer_rules
from ..domain.clock import Clock
from ..domain.outbox import PushKind, PushStatus

HOURS = 24
SERIES = ("sent", "failed", "suppressed", "posted", "sold_out")


def _per_hour(s, column, condition, starts: list[datetime]) -> list[int]:
    """One statement, one pass over the rows of the window, whatever the engine: a count per hour."""
    hour = timedelta(hours=1)
    counts = [func.count(case((and_(column >= start, column < start + hour), 1))) for start in starts]
    return [int(n) for n in s.execute(select(*counts).where(condition, column >= starts[0])).one()]


class ActivityService:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def last_day(self) -> list[dict[str, Any]]:
        """Per hour, oldest first, HOURS hours up to now (the last one under way): when it starts
        (UTC) and each of SERIES. A failed or suppressed push keeps no time of its
        outcome and is counted by when it was queued (as FiguresService.live does); an offer
        sold out by when it last changed (the last hold or collection took its last item)."""
        now = self.clock()
        current = now.replace(minute=0, second=0, microsecond=0)
        starts = [current - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]
        alert = Notification.kind == PushKind.OFFER
        with self.db.read() as s:
            series = {
                "sent": _per_hour(s, Notification.sent_at, and_(alert, Notification.status == PushStatus.SENT), starts),
                "failed": _per_hour(s, Notification.created_at, and_(alert, Notification.status == PushStatus.FAILED), starts),
                "suppressed": _per_hour(s, Notification.created_at,
                                        and_(alert, Notification.status == PushStatus.SUPPRESSED), starts),
                "posted": _per_hour(s, Offer.created_at, Offer.id.is_not(None), starts),
                "sold_out": _per_hour(s, Offer.updated_at, Offer.status == offer_rules.SOLD_OUT, starts),
            }
        return [{"start": start, **{name: series[name][i] for name in SERIES}} for i, start in enumerate(starts)]
