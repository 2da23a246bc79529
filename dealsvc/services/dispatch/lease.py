"""The lease heartbeat: while a batch is on the wire, its claim's lease is renewed, so a slow
FCM never lets another dispatcher take a batch that is still being sent: a planned batch's one
row (push_batches), or the rows of pushes claimed on their own."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import NamedTuple

from ...domain.clock import Clock
from ..ports import Transactions
from .outbox import Claimed
from .ports import Outbox

log = logging.getLogger("dealsvc.services.dispatch")


class Heartbeat:
    """One thread for every lane's claims, started with a batch and ended at the first beat that
    finds none on the wire (started again with the next): a dispatcher that is put away, or
    idle, leaves no thread waking up behind it."""

    def __init__(self, store: Transactions[Outbox], clock: Clock, lease):
        self.store = store
        self.clock = clock
        self.lease = lease
        # The claims on the wire: id -> (when registered, what the claim holds: a batch or rows,
        # each as (key, the claim's attempts)).
        self._in_flight: dict[int, tuple[float, _Held]] = {}
        self._in_flight_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def kept(self, claimed: list[Claimed]) -> "_LeaseKept":
        """Registers the claim with the heartbeat while the batch is on the wire and recorded."""
        batches = {(c.batch.id, c.batch.attempts) for c in claimed if c.batch is not None}
        return _LeaseKept(self, _Held(sorted(batches), [(c.notification_id, c.attempts) for c in claimed
                                                        if c.batch is None]))

    def _beat(self) -> None:
        """Every third of a lease, extend the lease of the rows of every batch that has been on
        the wire for more than a sixth of one: exactly the rows each claim still holds
        (status 'sending' with the claim's attempts). One statement for all of them; a batch that
        FCM answers quickly is never touched."""
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            time.sleep(interval)
            horizon = time.monotonic() - interval / 2
            with self._in_flight_lock:
                if not self._in_flight:
                    self._thread = None  # the next batch starts another (_LeaseKept.__enter__)
                    return
                due = [held for since, held in self._in_flight.values() if since <= horizon]
            batches = [batch for held in due for batch in held.batches]
            rows = [row for held in due for row in held.rows]
            if not batches and not rows:
                continue
            try:
                self._renew(batches, rows, self.clock() + self.lease)
            except Exception as error:  # the database away: the lanes tell the outage
                log.debug("lease renewal failed: %s", type(error).__name__)

    def _renew(self, batches: list[tuple[int, int]], rows: list[tuple[int, int]], lease: datetime) -> None:
        """Rows locked by anyone else (the lane recording this very batch) are skipped, not
        waited for: the heartbeat never waits on a lock, so it can never be one side of a deadlock."""
        with self.store.write() as q:
            q.index_scans()
            q.renew_batch_leases(batches, lease)
            q.renew_push_leases(rows, lease)


class _Held(NamedTuple):
    batches: list[tuple[int, int]]
    rows: list[tuple[int, int]]


class _LeaseKept:
    def __init__(self, heartbeat: Heartbeat, held: _Held):
        self.heartbeat = heartbeat
        self.held = held

    def __enter__(self) -> "_LeaseKept":
        h = self.heartbeat
        with h._in_flight_lock:
            if h._thread is None:
                thread = threading.Thread(target=h._beat, name="dispatch-lease-heartbeat", daemon=True)
                thread.start()  # it sleeps a beat first, then waits for this lock: it sees the claim
                h._thread = thread
            h._in_flight[id(self)] = (time.monotonic(), self.held)
        return self

    def __exit__(self, *_exc) -> bool:
        h = self.heartbeat
        with h._in_flight_lock:
            h._in_flight.pop(id(self), None)
        return False
