"""The retention job: personal data goes when it is no longer needed (domain/retention.py says
when). Run by the scheduler; idempotent, so a missed or repeated run changes nothing."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from ..domain.clock import Clock
from ..domain.credentials import SUBSCRIBER_PREFIX, hash_secret, new_secret
from ..domain.retention import TOKEN_FRESH, TOKEN_KEPT, Cutoffs
from .ports import Transactions
from . import funnel
from .subscribers import Forgetting, forget

log = logging.getLogger(__name__)

# Residents wiped per transaction: a backlog (the first run on an old database) goes in short steps.
BATCH = 500


class RetentionQueries(Forgetting, funnel.FunnelKeeping, Protocol):
    """What RetentionService needs of the database (SQL: db/queries/retention.py)."""

    def drop_tokens_unseen_since(self, before: datetime, now: datetime) -> int: ...
    def departed_residents(self, deactivated_before: datetime, limit: int) -> list[Any]: ...
    def unlink_old_alerts(self, before: datetime) -> int: ...
    def delete_idempotency_keys_before(self, before: datetime) -> int: ...
    def delete_quota_days_before(self, day: str) -> int: ...
    def delete_web_sessions_expired_at(self, now: datetime) -> int: ...


class RetentionService:
    def __init__(self, store: Transactions[RetentionQueries], clock: Clock, retention_days: int):
        self.store = store
        self.clock = clock
        self.retention_days = retention_days

    def purge(self) -> dict[str, int]:
        """One pass over every kind of data; returns how many rows each step changed."""
        now = self.clock()
        cut = Cutoffs.at(now, self.retention_days)
        done = {
            "tokens_dropped": self._drop_old_tokens(cut, now),
            "residents_wiped": self._wipe_departed(cut, now),
            "alerts_unlinked": self._unlink_old_alerts(cut),
        }
        with self.store.write() as q:
            done["idempotency_keys"] = q.delete_idempotency_keys_before(cut.idempotency_before)
            done["quota_days"] = q.delete_quota_days_before(cut.quota_day_before)
            done["web_sessions"] = q.delete_web_sessions_expired_at(now)
        if any(done.values()):
            log.info("retention: %s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
        return done

    def _drop_old_tokens(self, cut: Cutoffs, now) -> int:
        """Tokens the app has not presented since FCM's own expiry: dropped, which ends the
        resident's alerts (their data then waits out the retention period like any departure)."""
        with self.store.write() as q:
            return q.drop_tokens_unseen_since(cut.token_dropped_before, now)

    def _wipe_departed(self, cut: Cutoffs, now) -> int:
        wiped = 0
        while True:
            with self.store.write() as q:
                residents = q.departed_residents(cut.departed_before, BATCH)
                for sub in residents:
                    forget(q, sub)
                    # Gone as if the resident had left: the API no longer knows them. updated_at
                    # stays: the resident left the geo index when deactivated, and the operator's
                    # figures count departures by it.
                    sub.secret_hash = hash_secret(new_secret(SUBSCRIBER_PREFIX))
                    sub.deleted_at = now
            wiped += len(residents)
            if len(residents) < BATCH:
                return wiped

    def _unlink_old_alerts(self, cut: Cutoffs) -> int:
        """Alerts past the retention period keep what the offers' stats count (offer, kind,
        status) and lose where the resident was and who they were. Only settled ones: a push
        still pending or on the wire is the dispatcher's."""
        with self.store.write() as q:
            # First what the shop's funnel counts of each sent alert (while the link still says
            # whose it was, in a statement of its own: nothing is unlinked while it reads).
            funnel.keep_counted(q, cut.alerts_before)
            return q.unlink_old_alerts(cut.alerts_before)


def describe(retention_days: int) -> dict[str, Any]:
    """What the operator's console shows of the retention settings."""
    return {"retention_days": retention_days, "token_fresh_days": TOKEN_FRESH.days, "token_kept_days": TOKEN_KEPT.days}
