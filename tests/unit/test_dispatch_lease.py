"""The lease heartbeat (services/dispatch/lease.py) on an outbox that records its renewals: a
batch on the wire longer than a beat has its lease renewed; once nothing is on the wire, the
heartbeat's thread ends, and the next batch starts another."""
from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from dealsvc.services.dispatch.lease import Heartbeat
from dealsvc.services.dispatch.outbox import BatchClaim, Claimed

LEASE = timedelta(seconds=0.15)  # a beat every 0.05 s
NOW = datetime(2026, 12, 6, 18, 0, tzinfo=timezone.utc)


class Renewals:
    """The outbox's two renewal statements, recorded."""

    def __init__(self):
        self.batches: list[list[tuple[int, int]]] = []

    @contextmanager
    def write(self):
        yield self

    def index_scans(self):
        pass

    def renew_batch_leases(self, batches, lease):
        if batches:
            self.batches.append(batches)

    def renew_push_leases(self, rows, lease):
        pass


def wait_for(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def claim(batch_id: int) -> list[Claimed]:
    return [Claimed(notification_id=1, subscriber_pk=1, day=None, message=None, attempts=1,  # type: ignore[arg-type]
                    batch=BatchClaim(batch_id, attempts=1))]


def test_a_slow_batch_is_renewed_and_the_thread_ends_once_nothing_is_on_the_wire():
    outbox = Renewals()
    heartbeat = Heartbeat(outbox, lambda: NOW, LEASE)

    with heartbeat.kept(claim(7)):
        assert wait_for(lambda: len(outbox.batches) >= 2), "a batch on the wire for several beats was not renewed"
        first = heartbeat._thread  # this heartbeat's own (other tests' may run in this process)
        assert first is not None and first.is_alive()
    assert outbox.batches[0] == [(7, 1)]

    # Nothing on the wire: the thread ends at its next beat instead of waking up for ever.
    assert wait_for(lambda: not first.is_alive()), "the heartbeat's thread outlived its batches"
    renewed = len(outbox.batches)

    # The next batch starts another, and its lease is renewed as the first one's was.
    with heartbeat.kept(claim(8)):
        second = heartbeat._thread
        assert second is not None and second is not first
        assert wait_for(lambda: [(8, 1)] in outbox.batches[renewed:])
    assert wait_for(lambda: not second.is_alive())
