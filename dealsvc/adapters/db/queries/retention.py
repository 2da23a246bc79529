"""The retention job's statements: personal data past its time, dropped or unlinked in bulk."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, literal, select, update

from ..models import IdempotencyKey, Notification, PushQuota, Subscriber, UTCDateTime, WebSession
from ....domain.outbox import PushStatus
from .base import OnSession


def _settled_before(before: datetime):
    """Alerts created before `before`, still linked to their resident, and settled: a push still
    pending or on the wire is the dispatcher's."""
    return (
        Notification.created_at < before,
        Notification.subscriber_pk.is_not(None),
        Notification.status.not_in((PushStatus.PENDING, PushStatus.SENDING)),
    )


class RetentionQueries(OnSession):
    def drop_tokens_unseen_since(self, before: datetime, now: datetime) -> int:
        """Tokens last presented before `before` go, and their residents stop (first
        deactivated `now`, unless they were already); returns how many."""
        return self.session.execute(
            update(Subscriber)
            .where(Subscriber.token_seen_at < before, Subscriber.fcm_token != "")
            .values(
                fcm_token="", token_seen_at=None, active=False, updated_at=now,
                # Keeps the time the resident was first deactivated, if they were.
                deactivated_at=func.coalesce(Subscriber.deactivated_at, literal(now, UTCDateTime())),
            )
            .execution_options(synchronize_session=False)
        ).rowcount

    def departed_residents(self, deactivated_before: datetime, limit: int) -> list[Subscriber]:
        """Up to `limit` inactive, undeleted residents deactivated before `deactivated_before`, by
        key, locked (those another transaction holds are skipped)."""
        return list(self.session.scalars(
            select(Subscriber)
            .where(
                Subscriber.active.is_(False),
                Subscriber.deactivated_at < deactivated_before,
                Subscriber.deleted_at.is_(None),
            )
            .order_by(Subscriber.pk)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all())

    def unlink_old_alerts(self, before: datetime) -> int:
        """Settled alerts created before `before` lose their resident, distance and delivery
        details; returns how many."""
        return self.session.execute(
            update(Notification)
            .where(*_settled_before(before))
            .values(subscriber_pk=None, distance_m=None, fcm_message_id=None, sent_by=None)
            .execution_options(synchronize_session=False)
        ).rowcount

    def delete_idempotency_keys_before(self, before: datetime) -> int:
        return self.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < before)).rowcount

    def delete_quota_days_before(self, day: str) -> int:
        """`day`: YYYY-MM-DD."""
        return self.session.execute(delete(PushQuota).where(PushQuota.day < day)).rowcount

    def delete_web_sessions_expired_at(self, now: datetime) -> int:
        return self.session.execute(delete(WebSession).where(WebSession.expires_at < now)).rowcount
