"""`Refresher`: how an in-memory index keeps in step with the database, the same for the
residents' index (`SubscriberIndex`) and the shops' index (`ShopIndex`). The index answers from a
snapshot, rebuilt whole from the database now and then; in between, each look reads the rows
changed since the last one (`updated_at`, with a look-back that covers transactions still in
flight when it looked) and folds them into a new snapshot. What a snapshot is, how the rows are
read and folded is the index's own.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Callable, Generic, TypeVar

from ...domain.clock import Clock

S = TypeVar("S")

# How far before a look's start the next one reads (a transaction's length plus the clock skew
# between hosts, both far below it), and how often an index is read whole again.
LOOKBACK = timedelta(seconds=120)
REBUILD_EVERY = timedelta(minutes=10)


class Refresher(Generic[S]):
    """The snapshot an index answers from, when it was built and when the database was last
    looked at. A snapshot is replaced whole, never edited, so a query reads a consistent one
    without holding the lock."""

    def __init__(self, clock: Clock, *, lookback: timedelta = LOOKBACK, rebuild_every: timedelta = REBUILD_EVERY):
        self.clock = clock
        self.lookback = lookback
        self.rebuild_every = rebuild_every
        self._lock = threading.Lock()
        self._rebuilding = threading.Lock()
        self._snapshot: S | None = None
        self._built_at: datetime | None = None
        # When the latest look merged into the snapshot began (this process's clock).
        self._looked_at: datetime | None = None

    @property
    def snapshot(self) -> S | None:
        with self._lock:
            return self._snapshot

    def rebuild(self, load: Callable[[], S]) -> S:
        """The snapshot `load` reads whole from the database, in place of the current one."""
        started = self.clock()
        snapshot = load()
        with self._lock:
            self._snapshot, self._built_at, self._looked_at = snapshot, started, started
        return snapshot

    def _due(self) -> bool:
        return self._snapshot is None or self.clock() - self._built_at >= self.rebuild_every

    def rebuild_if_due(self, load: Callable[[], S]) -> S | None:
        """Rebuild when there is no snapshot yet or the last build is `rebuild_every` old, and
        answer with the new snapshot. None: not due, or another thread is rebuilding and there
        is a snapshot to go on with meanwhile (only without one does a caller wait for it)."""
        if not self._due():
            return None
        if not self._rebuilding.acquire(blocking=self._snapshot is None):
            return None
        try:
            return self.rebuild(load) if self._due() else None
        finally:
            self._rebuilding.release()

    def look(self) -> tuple[datetime, datetime]:
        """A look beginning: when it began, and the `updated_at` from which it must read."""
        # A change not merged yet was committed after the latest look began, so it was written
        # at most a look-back before that. Not the newest updated_at seen: after a bulk
        # import and nothing since, that would read the whole import again on every look.
        started = self.clock()
        return started, self._looked_at - self.lookback

    def merge(self, started: datetime, fold: Callable[[S], S]) -> S:
        """The look begun at `started` done: the snapshot becomes `fold(snapshot)` (called under
        the lock, so a fold that starts from the current snapshot loses no other thread's)."""
        with self._lock:
            self._looked_at = max(self._looked_at, started)
            self._snapshot = fold(self._snapshot)
            return self._snapshot
