"""What the dispatcher's modules share about the outbox: a claimed push, and a batch's claim and
its end (the statements are the db adapter's, queries/outbox/, through ports.py)."""
from __future__ import annotations

from dataclasses import dataclass

from ...adapters.push import PushMessage
from .ports import Outbox


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


def take_batch(q: Outbox, now, lease) -> BatchClaim | None:
    """The next planned batch no one holds, claimed until `lease` (one row written, whatever its
    size; batches another claimer holds are skipped, not waited for)."""
    row = q.take_batch(now, lease)
    return BatchClaim(row.id, row.attempts) if row is not None else None


def release_batch(q: Outbox, batch: BatchClaim) -> None:
    """A batch its claim is done with: deleted once every push the claim took has left it, or,
    when the claim took only part of it (the breaker's probe), given back for the rest."""
    if batch.whole:
        q.delete_batch(batch.id)
    else:
        q.give_back_batch(batch.id)
