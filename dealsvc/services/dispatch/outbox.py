"""What the dispatcher's modules share about the outbox: a claimed push, the tables, a batch's
life (planned, claimed, done with), and the little the statements need to know about the engine."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import and_, or_, select

from ...adapters.db.models import Fanout, Notification, PushBatch
from ...adapters.push import PushMessage
from ...domain.outbox import PushStatus

INSERT_CHUNK = 2000
NOTIFICATIONS = Notification.__table__
BATCHES = PushBatch.__table__


@dataclass(frozen=True)
class BatchClaim:
    """A claimed push batch: its id, the claim's attempt number (the recording checks the batch
    is still this claim's), and whether the claim took all of its pushes (the recording deletes
    it then, and otherwise gives it back for the rest)."""

    id: int
    attempts: int
    whole: bool = True


@dataclass
class Claimed:
    notification_id: int
    subscriber_pk: int
    day: str | None  # the local day whose quota it counts against; None: not counted
    message: PushMessage
    attempts: int  # this send's attempt number
    batch: BatchClaim | None = None  # None: a push claimed on its own, with its own lease


def is_pg(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def naive_utc(moment: datetime) -> datetime:
    """As UTCDateTime stores it (text() statements bypass the column type)."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


# What a dispatcher has to do at `now`: a fan-out to plan, a planned batch no one holds (never
# claimed, or its claim ran out), a push claimed on its own whose lease ran out, a pending push due.
def fanout_due(now: datetime):
    return and_(Fanout.done_at.is_(None), Fanout.due_at <= now)


def batch_due(now: datetime):
    return or_(BATCHES.c.claimed_until.is_(None), BATCHES.c.claimed_until < now)


def lease_ran_out(now: datetime):
    n = NOTIFICATIONS.c
    return and_(n.status == PushStatus.SENDING, n.lease_until.is_not(None), n.lease_until < now)


def pending_due(now: datetime):
    return NOTIFICATIONS.c.pending_due_at <= now



def take_batch(s, now: datetime, lease: datetime) -> BatchClaim | None:
    """The next planned batch no one holds, claimed until `lease`: one row written, whatever its
    size. Batches another claimer holds locked are skipped, not waited for (PostgreSQL; SQLite
    has one writer)."""
    b = BATCHES.c
    due = (
        select(b.id).where(batch_due(now))
        .order_by(b.id).limit(1).with_for_update(skip_locked=True)
    )
    row = s.execute(
        BATCHES.update().where(b.id == due.scalar_subquery())
        .values(claimed_until=lease, attempts=b.attempts + 1).returning(b.id, b.attempts)
    ).first()
    return BatchClaim(row.id, row.attempts) if row is not None else None


def release_batch(s, batch: BatchClaim) -> None:
    """A batch its claim is done with: deleted once every push the claim took has left it, or,
    when the claim took only part of it (the breaker's probe), given back for the rest."""
    if batch.whole:
        s.execute(BATCHES.delete().where(BATCHES.c.id == batch.id))
    else:
        s.execute(BATCHES.update().where(BATCHES.c.id == batch.id).values(claimed_until=None))


def new_batches(s, count: int, now: datetime) -> list[int]:
    """`count` new push batches, unclaimed; their ids in order."""
    ids: list[int] = []
    for start in range(0, count, INSERT_CHUNK):
        rows = [{"attempts": 0, "created_at": now}] * min(INSERT_CHUNK, count - start)
        ids += s.scalars(BATCHES.insert().values(rows).returning(BATCHES.c.id))
    return sorted(ids)
