"""Recording what FCM answered: sent in bulk; retries, dead tokens and the rest one by one; then
the batch, done with, is deleted. Every push of a batch leaves 'sending' in this one transaction."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, text, update

from ...adapters.db.models import Notification, PushBatch, Subscriber
from ...adapters.db.session import index_scans
from ...adapters.push import AUTH_FAILED, DEAD_TOKEN, RETRY, SENT, UNSENT, PushResult
from ...domain.outbox import PushStatus
from ...observability import PUSH_OUTCOMES
from ..push_breaker import BatchGate
from .outbox import NOTIFICATIONS, Claimed, is_pg, naive_utc, release_batch
from .quota import release_quota
from .settings import DispatchSettings, backoff_s

_PG_DELIVERED = text(
    f"UPDATE notifications AS n SET status = '{PushStatus.SENT}', reason = NULL, fcm_message_id = v.mid, sent_at = :now, "
    "pending_due_at = NULL, lease_until = NULL, sent_by = :by, attempts = v.attempts FROM unnest(CAST(:ids AS integer[]), "
    "CAST(:mids AS varchar[]), CAST(:attempts AS integer[])) "
    f"AS v(id, mid, attempts) WHERE n.id = v.id AND n.status IN ('{PushStatus.SENDING}', '{PushStatus.PENDING}')"
)


def record(s, claimed: list[Claimed], results: list[PushResult], gate: BatchGate | None, now: datetime,
           settings: DispatchSettings, by: str) -> None:
    """Each push's answer, in the claim's transaction shape: what FCM accepted in one statement
    for the whole batch (its attempt counted there), each other outcome only where this claim
    still holds the push: its batch, or its own lease."""
    index_scans(s)
    released: list[tuple[int, str]] = []
    batch = claimed[0].batch if claimed else None
    # The batch's row locked: a heartbeat skips it, a claim cannot take it over meanwhile.
    ours = batch is None or s.scalar(
        select(PushBatch.attempts).where(PushBatch.id == batch.id).with_for_update()
    ) == batch.attempts
    delivered = [
        {"nid": c.notification_id, "mid": result.message_id, "attempts": c.attempts}
        for c, result in zip(claimed, results)
        if result.outcome == SENT
    ]
    if delivered and is_pg(s):
        # A delivery is a fact even if our lease ran out meanwhile: recording it stops
        # a takeover from sending a third time. One statement for the whole batch.
        s.execute(
            _PG_DELIVERED,
            {"now": naive_utc(now), "by": by, "ids": [d["nid"] for d in delivered],
             "mids": [d["mid"] for d in delivered], "attempts": [d["attempts"] for d in delivered]},
        )
    elif delivered:
        s.execute(
            NOTIFICATIONS.update()
            .where(NOTIFICATIONS.c.id == bindparam("nid"), or_(NOTIFICATIONS.c.status == PushStatus.SENDING, NOTIFICATIONS.c.status == PushStatus.PENDING))
            .values(status=PushStatus.SENT, reason=None, fcm_message_id=bindparam("mid"), sent_at=now,
                    pending_due_at=None, lease_until=None, sent_by=by, attempts=bindparam("attempts")),
            delivered,
        )
    if delivered:
        PUSH_OUTCOMES.labels("sent").inc(len(delivered))
    if not ours:
        # Any other outcome only for our own claim: a dispatcher that took the batch over after
        # our lease ran out owns it now (and records what it sends).
        return
    for c, result in zip(claimed, results):
        if result.outcome == SENT:
            continue
        mine = and_(Notification.id == c.notification_id, Notification.status == PushStatus.SENDING)
        if batch is not None:
            mine = and_(mine, Notification.batch_id == batch.id)
        else:
            # A push claimed on its own: the same, unless a takeover claimed it since.
            mine = and_(mine, Notification.attempts == c.attempts)
        outcome = result.outcome
        if outcome == DEAD_TOKEN:
            values = dict(status=PushStatus.FAILED, reason="dead_token", lease_until=None, attempts=c.attempts)
            label = "dead_token"
        elif outcome == UNSENT or outcome == AUTH_FAILED or (outcome == RETRY and gate is not None and gate.held):
            # Not this push's failure (never sent, FCM refusing our credentials, or FCM
            # failing for everyone): back to the outbox as it was, the attempt unspent,
            # due as before; the breaker decides when claims start again.
            values = dict(status=PushStatus.PENDING, pending_due_at=Notification.due_at, attempts=c.attempts - 1,
                          lease_until=None, batch_id=None)
            if outcome != UNSENT:
                values["reason"] = (result.error or outcome)[:32]
            label = "held"
        elif outcome == RETRY:
            due = now + timedelta(seconds=backoff_s(c.attempts, settings, result.retry_after_s))
            values = dict(status=PushStatus.PENDING, reason=(result.error or "retry")[:32], due_at=due,
                          pending_due_at=due, lease_until=None, batch_id=None, attempts=c.attempts)
            label = "retry"
        else:
            values = dict(status=PushStatus.FAILED, reason="dead_letter", lease_until=None, attempts=c.attempts)
            label = "dead_letter"
        if not s.execute(update(Notification).where(mine).values(**values)).rowcount:
            continue
        PUSH_OUTCOMES.labels(label).inc()
        if c.day is not None:
            released.append((c.subscriber_pk, c.day))
        if result.outcome == DEAD_TOKEN:
            # A dead token never gets another try: the subscriber is off at once,
            # unless the phone sent a new token meanwhile.
            s.execute(
                update(Subscriber)
                .where(
                    Subscriber.pk == c.subscriber_pk,
                    Subscriber.active.is_(True),
                    Subscriber.fcm_token == c.message.token,
                )
                .values(active=False, updated_at=now, deactivated_at=now)
            )
    # What was not delivered does not count against the resident's daily cap.
    release_quota(s, released)
    if batch is not None:
        release_batch(s, batch)

