"""The operator's charts: pushes sent, failed and suppressed, offers posted and sold out, per
hour over the last day. Exact figures (operators see aggregates, domain/privacy.py)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from ..domain.clock import Clock
from ..domain.outbox import PushStatus
from .ports import Transactions

HOURS = 24
SERIES = ("sent", "failed", "suppressed", "posted", "sold_out")


class ActivityQueries(Protocol):
    """What ActivityService needs of the database (SQL: the db adapter's queries/activity.py): each a
    count per hour, for the hours starting at each of `starts`."""

    def alerts_per_hour_sent(self, starts: list[datetime]) -> list[int]: ...  # by when sent
    def alerts_per_hour_queued(self, status: str, starts: list[datetime]) -> list[int]: ...  # by when queued
    def offers_per_hour_posted(self, starts: list[datetime]) -> list[int]: ...
    def offers_per_hour_sold_out(self, starts: list[datetime]) -> list[int]: ...  # by when last changed


class ActivityService:
    def __init__(self, store: Transactions[ActivityQueries], clock: Clock):
        self.store = store
        self.clock = clock

    def last_day(self) -> list[dict[str, Any]]:
        """Per hour, oldest first, HOURS hours up to now (the last one under way): when it starts
        (UTC) and each of SERIES. A failed or suppressed push keeps no time of its
        outcome and is counted by when it was queued (as FiguresService.live does); an offer
        sold out by when it last changed (the last hold or collection took its last item)."""
        now = self.clock()
        current = now.replace(minute=0, second=0, microsecond=0)
        starts = [current - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]
        with self.store.read() as q:
            series = {
                "sent": q.alerts_per_hour_sent(starts),
                "failed": q.alerts_per_hour_queued(PushStatus.FAILED, starts),
                "suppressed": q.alerts_per_hour_queued(PushStatus.SUPPRESSED, starts),
                "posted": q.offers_per_hour_posted(starts),
                "sold_out": q.offers_per_hour_sold_out(starts),
            }
        return [{"start": start, **{name: series[name][i] for name in SERIES}} for i, start in enumerate(starts)]
