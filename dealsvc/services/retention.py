"""The retention job: personal data goes when it is no longer needed (domain/retention.py says
when). Run by the scheduler; idempotent, so a missed or repeated run changes nothing."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, func, literal, select, update

from ..adapters.db import Database
from ..adapters.db.models import IdempotencyKey, Notification, PushQuota, Subscriber, UTCDateTime, WebSession
from ..adapters.db.queries import Queries
from ..domain.clock import Clock
from ..domain.credentials import SUBSCRIBER_PREFIX, hash_secret, new_secret
from ..domain.outbox import PushStatus
from ..domain.retention import TOKEN_FRESH, TOKEN_KEPT, Cutoffs
from . import funnel
from .subscribers import forget

log = logging.getLogger(__name__)

# Residents wiped per transaction: a backlog (the first run on an old database) goes in short steps.
BATCH = 500


class RetentionService:
    def __init__(self, db: Database, clock: Clock, retention_days: int):
        self.db = db
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
        with self.db.write() as s:
            done["idempotency_keys"] = s.execute(
                delete(IdempotencyKey).where(IdempotencyKey.created_at < cut.idempotency_before)
            ).rowcount
            done["quota_days"] = s.execute(delete(PushQuota).where(PushQuota.day < cut.quota_day_before)).rowcount
            done["web_sessions"] = s.execute(delete(WebSession).where(WebSession.expires_at < now)).rowcount
        if any(done.values()):
            log.info("retention: %s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
        return done

    def _drop_old_tokens(self, cut: Cutoffs, now) -> int:
        """Tokens the app has not presented since FCM's own expiry: dropped, which ends the
        resident's alerts (their data then waits out the retention period like any departure)."""
        with self.db.write() as s:
            return s.execute(
                update(Subscriber)
                .where(Subscriber.token_seen_at < cut.token_dropped_before, Subscriber.fcm_token != "")
                .values(
                    fcm_token="", token_seen_at=None, active=False, updated_at=now,
                    # Keeps the time the resident was first deactivated, if they were.
                    deactivated_at=func.coalesce(Subscriber.deactivated_at, literal(now, UTCDateTime())),
                )
                .execution_options(synchronize_session=False)
            ).rowcount

    def _wipe_departed(self, cut: Cutoffs, now) -> int:
        wiped = 0
        while True:
            with self.db.write() as s:
                residents = s.scalars(
                    select(Subscriber)
                    .where(
                        Subscriber.active.is_(False),
                        Subscriber.deactivated_at < cut.departed_before,
                        Subscriber.deleted_at.is_(None),
                    )
                    .order_by(Subscriber.pk)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                ).all()
                for sub in residents:
                    forget(s, sub)
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
        old = (
            Notification.created_at < cut.alerts_before,
            Notification.subscriber_pk.is_not(None),
            Notification.status.not_in((PushStatus.PENDING, PushStatus.SENDING)),
        )
        with self.db.write() as s:
            # First what the shop's funnel counts of each sent alert (while the link still says
            # whose it was, in a statement of its own: nothing is unlinked while it reads).
            funnel.keep_counted(Queries(s), cut.alerts_before)
            return s.execute(
                update(Notification)
                .where(*old)
                .values(subscriber_pk=None, distance_m=None, fcm_message_id=None, sent_by=None)
                .execution_options(synchronize_session=False)
            ).rowcount


def describe(retention_days: int) -> dict[str, Any]:
    """What the operator's console shows of the retention settings."""
    return {"retention_days": retention_days, "token_fresh_days": TOKEN_FRESH.days, "token_kept_days": TOKEN_KEPT.days}
