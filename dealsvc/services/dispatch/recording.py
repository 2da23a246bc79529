"""Recording what FCM answered: sent in bulk; retries, dead tokens and the rest one by one; then
the batch, done with, is deleted. Every push of a batch leaves 'sending' in this one transaction."""
from __future__ import annotations

from datetime import datetime, timedelta

from ...adapters.push import AUTH_FAILED, DEAD_TOKEN, RETRY, SENT, UNSENT, PushResult
from ...domain.outbox import PushStatus
from ...observability import PUSH_OUTCOMES
from ..push_breaker import BatchGate
from .outbox import Claimed, release_batch
from .ports import Outbox
from .settings import DispatchSettings, backoff_s


def record(q: Outbox, claimed: list[Claimed], results: list[PushResult], gate: BatchGate | None, now: datetime,
           settings: DispatchSettings, by: str) -> None:
    """Each push's answer, in the claim's transaction shape: what FCM accepted in one statement
    for the whole batch (its attempt counted there), each other outcome only where this claim
    still holds the push: its batch, or its own lease."""
    q.index_scans()
    released: list[tuple[int, str]] = []
    batch = claimed[0].batch if claimed else None
    # The batch's row locked: a heartbeat skips it, a claim cannot take it over meanwhile.
    ours = batch is None or q.batch_attempts_locked(batch.id) == batch.attempts
    delivered = [
        {"nid": c.notification_id, "mid": result.message_id, "attempts": c.attempts}
        for c, result in zip(claimed, results)
        if result.outcome == SENT
    ]
    if delivered:
        # A delivery is a fact even if our lease ran out meanwhile: recording it stops
        # a takeover from sending a third time. One statement for the whole batch.
        q.record_delivered(delivered, now, by)
        PUSH_OUTCOMES.labels("sent").inc(len(delivered))
    if not ours:
        # Any other outcome only for our own claim: a dispatcher that took the batch over after
        # our lease ran out owns it now (and records what it sends).
        return
    for c, result in zip(claimed, results):
        if result.outcome == SENT:
            continue
        # Only where our claim still holds it: in our batch, or, claimed on its own, at our
        # attempt (unless a takeover claimed it since).
        outcome = result.outcome
        due_as_before = False
        if outcome == DEAD_TOKEN:
            values = dict(status=PushStatus.FAILED, reason="dead_token", lease_until=None, attempts=c.attempts)
            label = "dead_token"
        elif outcome == UNSENT or outcome == AUTH_FAILED or (outcome == RETRY and gate is not None and gate.held):
            # Not this push's failure (never sent, FCM refusing our credentials, or FCM
            # failing for everyone): back to the outbox as it was, the attempt unspent,
            # due as before; the breaker decides when claims start again.
            values = dict(status=PushStatus.PENDING, attempts=c.attempts - 1, lease_until=None, batch_id=None)
            due_as_before = True
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
        if not q.settle_push(c.notification_id, batch.id if batch is not None else None, c.attempts, values,
                             due_as_before):
            continue
        PUSH_OUTCOMES.labels(label).inc()
        if c.day is not None:
            released.append((c.subscriber_pk, c.day))
        if result.outcome == DEAD_TOKEN:
            # A dead token never gets another try: the subscriber is off at once,
            # unless the phone sent a new token meanwhile.
            q.deactivate_token(c.subscriber_pk, c.message.token, now)
    # What was not delivered does not count against the resident's daily cap.
    q.release_quota(released)
    if batch is not None:
        release_batch(q, batch)
