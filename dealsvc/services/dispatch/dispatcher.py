"""The dispatcher's loop: plan due waves, claim a batch, send it through the gateway while its
lease is kept, record the answers; in `lanes` threads per process."""
from __future__ import annotations

import logging
import os
import socket
import threading

from ...adapters.spatial import SubscriberIndex
from ...adapters.push import SENT, PushGateway, PushResult
from ...domain.clock import Clock
from ..outage import Outage
from ..ports import DatabaseError, Transactions
from ..push_breaker import BatchGate, Breaker
from ..rules import RulesService
from .claiming import Claimer
from .lease import Heartbeat
from .messages import Messages
from .outbox import Claimed
from .planning import WavePlanner
from .ports import Outbox
from .recording import record
from .settings import DispatchSettings

log = logging.getLogger("dealsvc.services.dispatch")


class Dispatcher:
    def __init__(
        self,
        store: Transactions[Outbox],
        clock: Clock,
        rules: RulesService,
        index: SubscriberIndex,
        gateway: PushGateway,
        settings: DispatchSettings | None = None,
    ):
        self.store = store
        self.clock = clock
        self.rules = rules
        self.index = index
        self.gateway = gateway
        self.settings = settings or DispatchSettings()
        self.breaker = Breaker(clock, self.settings.breaker)
        self.outage = Outage("dispatcher", log, max_s=self.settings.db_backoff_max_s)
        # Set when the dispatcher is to stop: no send starts after that (run_forever's event).
        self.stopping = threading.Event()
        # The lanes' idle looks (_idle): which lane looks for work while the others rest, and
        # how many times a lane found work, which wakes them.
        self._lanes_idle = threading.Condition()
        self._watcher: int | None = None
        self._work_found = 0
        self.planner = WavePlanner(store, clock, rules, index, self.settings)
        self.claimer = Claimer(rules, self.settings, Messages(self.settings.public_url))
        self.heartbeat = Heartbeat(store, clock, self.settings.lease)

    @property
    def name(self) -> str:
        """This dispatcher process, as recorded in notifications.sent_by (read at each use: a
        process may have forked since the dispatcher was built)."""
        return f"{socket.gethostname()}:{os.getpid()}"[:100]

    def expand_one(self) -> bool:
        """Turn one due fan-out into notifications (planning.py)."""
        if planned := self.planner.expand_one():
            self._found_work()  # resting lanes start now: the next fan-outs and these batches
        return planned

    def run_once(self) -> int:
        """Expand the due fan-outs, then send one batch. Returns how much work was done."""
        work = 0
        while self.expand_one():
            work += 1
        work += self.send_batch()
        return work

    def run_forever(self, stop: threading.Event, idle_s: float = 0.25) -> None:
        """Run the loop in `lanes` threads until `stop` is set; each lane finishes the batch it
        holds before it returns (what it had not sent yet goes back to the outbox)."""
        self.stopping = stop
        try:
            self.index.refresh()  # built before the first offer needs it, not during it
        except Exception:
            log.exception("could not build the subscriber index yet; the first fan-out will")
        log.info("dispatcher ready: %d lanes of %d pushes", max(1, self.settings.lanes), self.settings.batch_size)
        lanes = [
            threading.Thread(target=self._lane, args=(stop, idle_s), name=f"dispatch-lane-{i}", daemon=True)
            for i in range(1, max(1, self.settings.lanes))
        ]
        for lane in lanes:
            lane.start()
        self._lane(stop, idle_s)
        for lane in lanes:
            lane.join()

    def _lane(self, stop: threading.Event, idle_s: float) -> None:
        try:
            while not stop.is_set():
                try:
                    busy = self.run_once()
                except Exception as error:  # keep the loop alive; the outbox keeps the work
                    # One line when an outage starts, one when it ends, a growing sleep between.
                    stop.wait(self.outage.failed(error))
                    continue
                self.outage.succeeded()
                if not busy:
                    self._idle(stop, idle_s)
        finally:
            self._found_work()  # a lane that leaves lets none rest on it

    def _idle(self, stop: threading.Event, idle_s: float) -> None:
        """A lane that found nothing to do. One idle lane of the process looks again every
        `idle_s` (each look is a fan-out's transaction and a claim's); the others rest until it
        finds work, then all start again. So an idle process costs the database one look per
        `idle_s`, not one per lane: more lanes add no looks, each more process one."""
        me = threading.get_ident()
        with self._lanes_idle:
            if self._watcher is None or self._watcher == me:
                self._watcher = me
            else:
                seen = self._work_found
                while self._work_found == seen and not stop.is_set():
                    self._lanes_idle.wait(idle_s * 4)
                return
        stop.wait(idle_s)

    def _found_work(self) -> None:
        """This lane found work (a fan-out to plan, a batch to send) or is leaving: the resting
        lanes start again at once, and the lane that was looking for work, if it was this one,
        no longer is."""
        me = threading.get_ident()
        with self._lanes_idle:
            if self._watcher == me:
                self._watcher = None
            self._work_found += 1
            self._lanes_idle.notify_all()

    def send_batch(self) -> int:
        if self.stopping.is_set():
            return 0
        limit, probe = self.breaker.admit(self.settings.batch_size)
        if not limit:
            return 0  # FCM fails for everyone: nothing is claimed until the breaker's pause ends
        gate: BatchGate | None = None
        try:
            with self.store.write() as q:
                claimed = self.claimer.claim(q, self.clock(), limit)
            if not claimed:
                if probe:
                    # Nothing to probe with: FCM is not known to be back, so the breaker stays
                    # open (the next due push is the probe) and its pause keeps growing.
                    self.breaker.probe_abandoned()
                return 0
            self._found_work()  # while this batch is on the wire, the resting lanes claim the next ones
            gate = self.breaker.gate(len(claimed), probe, self.stopping)
            with self.heartbeat.kept(claimed):
                results = self.gateway.send([c.message for c in claimed], gate)
                self._record_surely(claimed, results, gate)
            if probe:
                self.breaker.probe_done(gate.tripped)
        except BaseException:
            if probe:
                self.breaker.probe_abandoned()
            raise
        log.debug("sent batch of %d", sum(1 for r in results if r.outcome == SENT))
        return len(claimed)

    def _record_surely(self, claimed: list[Claimed], results: list[PushResult], gate: BatchGate) -> None:
        """Record the answers, waiting out a database outage: what FCM accepted is recorded
        sent, not left to a takeover that would send it again. Given up only when stopping
        (the rows stay claimed; the lease hands them over)."""
        while True:
            try:
                with self.store.write() as q:
                    record(q, claimed, results, gate, self.clock(), self.settings, self.name)
                return
            except DatabaseError as error:
                if self.stopping.is_set():
                    raise
                self.stopping.wait(self.outage.failed(error))
