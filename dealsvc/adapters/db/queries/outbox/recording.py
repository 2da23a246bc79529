"""Recording's statements (services/dispatch/recording.py): a batch's claim checked, its
deliveries written at once, every other answer where the claim still holds its push, a dead
token's resident switched off."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select, text, update

from .....domain.outbox import PushStatus
from ...models import Notification, PushBatch, Subscriber
from .tables import NOTIFICATIONS, OnOutbox, naive_utc, pg_array

_PG_DELIVERED = text(
    f"UPDATE notifications AS n SET status = '{PushStatus.SENT}', reason = NULL, fcm_message_id = v.mid, sent_at = :now, "
    "pending_due_at = NULL, lease_until = NULL, sent_by = :by, attempts = v.attempts FROM unnest(CAST(:ids AS integer[]), "
    "CAST(:mids AS varchar[]), CAST(:attempts AS integer[])) "
    f"AS v(id, mid, attempts) WHERE n.id = v.id AND n.status IN ('{PushStatus.SENDING}', '{PushStatus.PENDING}')"
)


class RecordingQueries(OnOutbox):
    def batch_attempts_locked(self, batch_id: int) -> int | None:
        """The batch's claims so far (None: deleted), its row locked until the transaction ends:
        a heartbeat skips it, a claim cannot take it over meanwhile."""
        return self.session.scalar(select(PushBatch.attempts).where(PushBatch.id == batch_id).with_for_update())

    def record_delivered(self, delivered: list[dict], now: datetime, by: str) -> None:
        """Each of `delivered` ({"nid", "mid": FCM's message id, "attempts"}) sent at `now` by
        `by`, if it is still sending or pending: one statement (an executemany on SQLite)."""
        if not delivered:
            return
        if self.is_pg:
            self.session.execute(
                _PG_DELIVERED,
                {"now": naive_utc(now), "by": by, "ids": pg_array([d["nid"] for d in delivered]),
                 "mids": pg_array([d["mid"] for d in delivered]),
                 "attempts": pg_array([d["attempts"] for d in delivered])},
            )
        else:
            self.session.execute(
                NOTIFICATIONS.update()
                .where(NOTIFICATIONS.c.id == bindparam("nid"), or_(NOTIFICATIONS.c.status == PushStatus.SENDING, NOTIFICATIONS.c.status == PushStatus.PENDING))
                .values(status=PushStatus.SENT, reason=None, fcm_message_id=bindparam("mid"), sent_at=now,
                        pending_due_at=None, lease_until=None, sent_by=by, attempts=bindparam("attempts")),
                delivered,
            )

    def settle_push(self, notification_id: int, batch_id: int | None, attempts: int, values: dict,
                    due_as_before: bool = False) -> bool:
        """The push's columns set to `values` (and pending_due_at to its due_at when
        `due_as_before`), if it is still sending in the claim that took it: in batch `batch_id`,
        or, claimed on its own (None), at `attempts`. Whether it was."""
        mine = and_(Notification.id == notification_id, Notification.status == PushStatus.SENDING)
        if batch_id is not None:
            mine = and_(mine, Notification.batch_id == batch_id)
        else:
            mine = and_(mine, Notification.attempts == attempts)
        if due_as_before:
            values = {**values, "pending_due_at": Notification.due_at}
        return bool(self.session.execute(update(Notification).where(mine).values(**values)).rowcount)

    def deactivate_token(self, subscriber_pk: int, token: str, now: datetime) -> None:
        """The resident switched off at `now`, if still active with this token (a phone that sent
        a new one meanwhile stays)."""
        self.session.execute(
            update(Subscriber)
            .where(
                Subscriber.pk == subscriber_pk,
                Subscriber.active.is_(True),
                Subscriber.fcm_token == token,
            )
            .values(active=False, updated_at=now, deactivated_at=now)
        )
