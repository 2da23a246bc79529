"""How long residents' data is kept: the cut-offs the retention job and the dispatcher apply.

- A departed resident (deactivated: a dead token, the phone registered again, a token dropped
  as stale) keeps their coordinates, places, favourites and token `retention_days`
  (DEALSVC_RETENTION_DAYS), so that coming back with a fresh token finds them as they were; then
  they are wiped like a resident who leaves with DELETE (which wipes at once).
- An alert older than `retention_days` keeps its offer, kind and outcome (what the offers' stats
  count) but no distance and no link to the resident it went to.
- A token the app has not presented for `TOKEN_FRESH` is not pushed to (the phone is most likely
  gone; FCM's own guidance is about two months), and after `TOKEN_KEPT` (FCM expires a token
  unused for 270 days) it is dropped, which deactivates the resident.
- An Idempotency-Key's answer is replayed for `IDEMPOTENCY_KEPT`, then forgotten.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_RETENTION_DAYS = 30
TOKEN_FRESH = timedelta(days=60)
TOKEN_KEPT = timedelta(days=270)
IDEMPOTENCY_KEPT = timedelta(hours=24)
# Why a resident in reach was not pushed to (notifications.reason, the push outcomes' metric).
TOKEN_STALE = "token_stale"


def token_stale_before(now: datetime) -> datetime:
    """A token last presented before this is not pushed to."""
    return now - TOKEN_FRESH


def token_is_fresh(seen_at: datetime | None, now: datetime) -> bool:
    """None: never recorded (a row from before tokens were dated): counted fresh until the
    migration's backfill date ages like any other."""
    return seen_at is None or seen_at >= token_stale_before(now)


@dataclass(frozen=True)
class Cutoffs:
    """The instants before which each kind of data goes, at `now`."""

    departed_before: datetime  # residents deactivated before this lose their personal data
    alerts_before: datetime  # alerts created before this lose their distance and resident
    token_dropped_before: datetime  # tokens last presented before this are dropped
    idempotency_before: datetime  # Idempotency-Key answers stored before this are forgotten
    quota_day_before: str  # daily push counts of days before this (YYYY-MM-DD) are deleted

    @classmethod
    def at(cls, now: datetime, retention_days: int = DEFAULT_RETENTION_DAYS) -> "Cutoffs":
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        keep = timedelta(days=retention_days)
        return cls(
            departed_before=now - keep,
            alerts_before=now - keep,
            token_dropped_before=now - TOKEN_KEPT,
            idempotency_before=now - IDEMPOTENCY_KEPT,
            # A day later than the cut-off: quota days are local days, up to 14 h off UTC.
            quota_day_before=(now - keep - timedelta(days=1)).date().isoformat(),
        )
