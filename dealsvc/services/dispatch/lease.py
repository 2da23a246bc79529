"""The lease heartbeat: while a batch is on the wire, its claim's lease is renewed, so a slow
FCM never lets another dispatcher take a batch that is still being sent."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy import bindparam, text

from ...adapters.db import Database
from ...adapters.db.models import UTCDateTime
from ...domain.clock import Clock
from ...domain.outbox import PushStatus
from .outbox import Claimed, is_pg, naive_utc

log = logging.getLogger("dealsvc.services.dispatch")

# The lease of the rows a claim still holds (a takeover changed status or attempts). Rows locked
# by anyone else (the lane recording this very batch) are skipped, not waited for: the heartbeat
# never waits on a lock, so it can never be one side of a deadlock.
_PG_RENEW = text(
    "UPDATE notifications AS n SET lease_until = :lease WHERE n.id IN (SELECT m.id FROM notifications AS m "
    "JOIN unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[])) AS v(id, attempts) "
    f"ON m.id = v.id AND m.attempts = v.attempts WHERE m.status = '{PushStatus.SENDING}' FOR UPDATE OF m SKIP LOCKED)"
)
_SQLITE_RENEW = text(
    "UPDATE notifications SET lease_until = :lease WHERE id = :nid AND attempts = :attempts "
    f"AND status = '{PushStatus.SENDING}'"
).bindparams(bindparam("lease", type_=UTCDateTime))


class Heartbeat:
    """One thread per process, started with the first batch, for every lane's claims."""

    def __init__(self, db: Database, clock: Clock, lease):
        self.db = db
        self.clock = clock
        self.lease = lease
        # The claims on the wire: id -> (when registered, rows).
        self._in_flight: dict[int, tuple[float, list[tuple[int, int]]]] = {}
        self._in_flight_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def kept(self, claimed: list[Claimed]) -> "_LeaseKept":
        """Registers the claim with the heartbeat while the batch is on the wire and recorded."""
        return _LeaseKept(self, [(c.notification_id, c.attempts) for c in claimed])

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
                rows = [row for since, held in self._in_flight.values() if since <= horizon for row in held]
            if not rows:
                continue
            try:
                self._renew(rows, self.clock() + self.lease)
            except Exception as error:  # the database away: the lanes tell the outage
                log.debug("lease renewal failed: %s", type(error).__name__)

    def _renew(self, rows: list[tuple[int, int]], lease: datetime) -> None:
        with self.db.write() as s:
            if is_pg(s):
                s.execute(_PG_RENEW, {"lease": naive_utc(lease), "ids": [nid for nid, _ in rows],
                                      "attempts": [attempts for _, attempts in rows]})
            else:
                s.execute(_SQLITE_RENEW, [{"lease": lease, "nid": nid, "attempts": attempts} for nid, attempts in rows])


class _LeaseKept:
    def __init__(self, heartbeat: Heartbeat, rows: list[tuple[int, int]]):
        self.heartbeat = heartbeat
        self.rows = rows

    def __enter__(self) -> "_LeaseKept":
        h = self.heartbeat
        with h._in_flight_lock:
            h._in_flight[id(self)] = (time.monotonic(), self.rows)
            if h._thread is None:
                h._thread = threading.Thread(target=h._beat, name="dispatch-lease-heartbeat", daemon=True)
                h._thread.start()
        return self

    def __exit__(self, *_exc) -> bool:
        h = self.heartbeat
        with h._in_flight_lock:
            h._in_flight.pop(id(self), None)
        return False
