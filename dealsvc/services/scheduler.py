"""The scheduler: APScheduler in exactly one process at a time, elected through a lease row in
the database; a second instance stands by and takes over when the first stops renewing.

Its jobs are data: `Scheduler.jobs` lists the periodic ones (each an id, an interval and what it
runs; each also runs once as soon as a scheduler is elected, so whatever fell due while nobody led
is handled at once, not at the first tick):
- `sweep`: every few seconds, expires whatever offers and holds are due and were missed
  (idempotent);
- `sync`: every second, gives new offers and holds their date jobs;
- `price-steps`: every few seconds, applies the price steps that fell due (idempotent);
- whatever the composition root adds (`periodic`): `retention`, hourly, wipes the personal data
  kept past its time (services/retention.py; idempotent).
`sync` makes the date jobs: `expire:<offer id>` at the offer's expires_at, for exact expiry, and
`hold:<reservation id>` at a hold's expires_at (it ends, with any other hold of that offer whose
time has come, and its stock goes back).
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol, Sequence

from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from ..domain import offers as offer_rules
from ..domain.clock import Clock
from .lifecycle import ExpiryService
from .outage import Outage
from .ports import Transactions
from .price_steps import PriceStepService

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"


class SchedulerQueries(Protocol):
    """What the scheduler needs of the database (SQL: queries/scheduler.py in the database adapter)."""

    # The lease: taken when free, expired or already ours, atomically (a compare-and-set).
    def claim_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool: ...
    def lease_expiry(self, name: str) -> datetime | None: ...
    def release_lease(self, name: str, holder: str, expired_at: datetime) -> None: ...
    # What the date jobs are made from.
    def offer_expiries_changed_since(self, since: datetime, statuses: Sequence[str]) -> list[Any]: ...  # (id, expires_at)
    def hold_expiries(self, made_since: datetime | None = None) -> list[Any]: ...  # (id, offer_id, expires_at)


@dataclass(frozen=True)
class Periodic:
    """A job the elected scheduler runs every `every`, and once when it is elected."""

    id: str
    every: timedelta
    run: Callable[[], object]


class LeaseElection:
    """Holds the named lease while alive: renewed by its holder, taken over once expired."""

    def __init__(self, store: Transactions[SchedulerQueries], clock: Clock, name: str = LEASE_NAME,
                 ttl: timedelta = timedelta(seconds=6)):
        self.store = store
        self.clock = clock
        self.name = name
        self.ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # When the lease another process holds runs out, as last seen: a standby checks again
        # right then, so a dead leader is replaced within the TTL rather than up to a heartbeat later.
        self.taken_until: datetime | None = None

    def try_acquire(self) -> bool:
        """True while this process holds the lease (acquired now or renewed)."""
        now = self.clock()
        self.taken_until = None
        with self.store.write() as q:
            won = q.claim_lease(self.name, self.holder, now, now + self.ttl)
            self.taken_until = None if won else q.lease_expiry(self.name)
        return won

    def release(self) -> None:
        with self.store.write() as q:
            q.release_lease(self.name, self.holder, self.clock() - timedelta(seconds=1))


class Scheduler:
    def __init__(
        self,
        store: Transactions[SchedulerQueries],
        clock: Clock,
        expiry: ExpiryService,
        price_steps: PriceStepService | None = None,
        *,
        sweep_every: timedelta = timedelta(seconds=2),
        price_steps_every: timedelta = timedelta(seconds=2),
        sync_every: timedelta = timedelta(seconds=1),
        lease_ttl: timedelta = timedelta(seconds=6),
        db_backoff_max_s: float = 10.0,
        periodic: Sequence[Periodic] = (),
    ):
        self.store = store
        self.clock = clock
        self.expiry = expiry
        self.price_steps = price_steps
        self.jobs: list[Periodic] = [
            Periodic("sweep", sweep_every, self.sweep),
            Periodic("sync", sync_every, self.sync),
            *([Periodic("price-steps", price_steps_every, self.step_prices)] if price_steps is not None else []),
            *periodic,
        ]
        self.election = LeaseElection(store, clock, ttl=lease_ttl)
        self._aps: BackgroundScheduler | None = None
        self._synced_until: datetime | None = None
        self._sync_lock = threading.Lock()
        # Lease checks and jobs alike: one line when the database goes away, one when it is back.
        self.outage = Outage("scheduler", log, max_s=db_backoff_max_s)

    @property
    def is_leader(self) -> bool:
        return self._aps is not None

    def run_forever(self, stop: threading.Event) -> None:
        """Campaign for the lease, lead while holding it, stand by otherwise."""
        heartbeat = self.election.ttl.total_seconds() / 3
        try:
            while not stop.is_set():
                try:
                    holding = self.election.try_acquire()
                except Exception as error:  # the database is away: not leading is the safe side
                    if self.is_leader:
                        self._stand_down()
                    stop.wait(self.outage.failed(error))
                    continue
                self.outage.succeeded()
                if holding and not self.is_leader:
                    self._lead()
                elif not holding and self.is_leader:
                    log.warning("scheduler lease lost; standing by")
                    self._stand_down()
                stop.wait(self._next_check(holding, heartbeat))
        finally:
            if self.is_leader:
                self._stand_down()
                try:
                    self.election.release()
                except Exception as error:  # the database is away: the lease simply runs out
                    log.warning("scheduler lease not released (%s); it runs out by itself", type(error).__name__)

    def _next_check(self, holding: bool, heartbeat: float) -> float:
        """Seconds until the next campaign: a heartbeat, or sooner when the other holder's
        lease runs out before that (just after it, since taking over needs expires_at < now)."""
        taken_until = self.election.taken_until
        if holding or taken_until is None:
            return heartbeat
        return min(heartbeat, max(0.01, (taken_until - self.clock()).total_seconds() + 0.01))

    # --- leading -----------------------------------------------------------------------

    def _lead(self) -> None:
        log.info("scheduler elected (%s)", self.election.holder)
        aps = BackgroundScheduler(
            timezone="UTC",
            # Jobs run in the scheduler's own thread: they are short database updates, and a
            # thread pool is shut down by the interpreter before atexit handlers run, so a web
            # process stopping in embedded mode would log "cannot schedule new futures".
            executors={"default": DebugExecutor()},
            job_defaults={
                # A job that falls due while the process is busy still runs, once.
                "coalesce": True,
                "misfire_grace_time": None,
                "max_instances": 1,
            },
        )
        guarded = [(job, self._guarded(job.run)) for job in self.jobs]
        for job, run in guarded:
            aps.add_job(run, "interval", seconds=job.every.total_seconds(), id=job.id, replace_existing=True)
        self._aps = aps
        self._synced_until = None
        aps.start()
        # Whatever fell due while nobody led is handled now, not at the first tick.
        for job, run in guarded:
            aps.add_job(run, id=f"{job.id}-at-start", replace_existing=True)

    def _guarded(self, job):
        """A job whose failure is told through the outage (once), not by APScheduler with a
        traceback at every run; the next run tries again."""

        def run() -> None:
            try:
                job()
            except Exception as error:
                self.outage.failed(error)
                return
            # A job that ran while the scheduler stood down (the lease loop lost the database
            # meanwhile) may have returned without trying the database: not a sign it is back.
            if self._aps is not None:
                self.outage.succeeded()

        run.__name__ = getattr(job, "__name__", "job")
        return run

    def _stand_down(self) -> None:
        aps, self._aps = self._aps, None
        if aps is not None:
            aps.shutdown(wait=True)

    def sweep(self) -> None:
        expired = self.expiry.expire_due()
        if expired:
            log.info("sweep expired %d offers", len(expired))
        given_back = self.expiry.expire_due_holds()
        if given_back:
            log.info("sweep ended lapsed holds of %d offers", len(given_back))

    def step_prices(self) -> None:
        applied = self.price_steps.apply_due() if self.price_steps is not None else []
        if applied:
            log.info("price steps applied to %d offers", len(applied))

    def sync(self) -> None:
        """Date jobs for the offers posted and the holds made since the last look (with a
        look-back for the transactions that were still open then)."""
        aps = self._aps
        if aps is None:
            return
        with self._sync_lock:
            now = self.clock()
            since = (self._synced_until or now - timedelta(days=365)) - timedelta(seconds=30)
            with self.store.read() as q:
                rows = q.offer_expiries_changed_since(since, [offer_rules.ACTIVE, offer_rules.SOLD_OUT])
                held = q.hold_expiries(since if self._synced_until is not None else None)
            for offer_id, expires_at in rows:
                _date_job(aps, f"expire:{offer_id}", expires_at, now, self.expiry.expire_offer, offer_id)
            for reservation_id, offer_id, expires_at in held:
                _date_job(aps, f"hold:{reservation_id}", expires_at, now, self.expiry.expire_holds, offer_id)
            self._synced_until = now


def _date_job(aps: BackgroundScheduler, job_id: str, when: datetime, now: datetime, job, offer_id: str) -> None:
    """`job(offer_id)` at `when` (now if that has passed), once per id."""
    if aps.get_job(job_id) is None:
        aps.add_job(job, "date", run_date=max(when, now), args=[offer_id], id=job_id, replace_existing=True)
