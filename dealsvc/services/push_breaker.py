"""The dispatcher's circuit breaker: when FCM fails for everyone, stop claiming pushes for a
while (growing, capped, jittered; never shorter than FCM's Retry-After up to the cap), then try a
small batch. Pushes are held in the outbox meanwhile without spending their attempts.

closed --(a batch's answers mostly transient failures, or any 401/403)--> open
open --(the pause is over; one lane claims a probe batch)--> probing
probing --(the probe's answers mostly fine)--> closed   |   --(they fail again)--> open, longer

State lives per dispatcher process and is shared by its lanes; it costs a few attribute reads
per batch and one lock per answer while a batch is on the wire.
"""
from __future__ import annotations

import logging
import math
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from ..adapters.push import AUTH_FAILED, RETRY, PushResult
from ..domain.clock import Clock
from ..observability import PUSH_AUTH_FAILURES, PUSH_BREAKER_OPEN, PUSH_BREAKER_TRIPS

log = logging.getLogger(__name__)

CLOSED, OPEN, PROBING = "closed", "open", "probing"
TRANSIENT, AUTH = "transient", "auth"


@dataclass(frozen=True)
class BreakerSettings:
    base_s: float = 5.0  # the first pause
    max_s: float = 300.0  # the longest pause (FCM's Retry-After is honoured up to this)
    # A batch trips the breaker when at least this many of its answers (and at least half of
    # those so far) are transient failures; a probe trips it on half of its answers.
    min_failures: int = 5
    probe_size: int = 10


class Breaker:
    def __init__(self, clock: Clock, settings: BreakerSettings | None = None, rng: Callable[[], float] = random.random):
        self.clock = clock
        self.settings = settings or BreakerSettings()
        self.rng = rng
        self.state = CLOSED
        self.cause: str | None = None
        self.open_until: datetime | None = None
        self.pause_s = 0.0
        self._since: datetime | None = None
        self._auth_told = False
        self._lock = threading.Lock()
        PUSH_BREAKER_OPEN.set(0)

    def admit(self, batch_size: int) -> tuple[int, bool]:
        """How many pushes a lane may claim now, and whether that claim is the probe."""
        if self.state == CLOSED:  # the usual case: no lock taken
            return batch_size, False
        with self._lock:
            if self.state == OPEN and self.clock() >= self.open_until:
                self.state = PROBING
                return min(batch_size, self.settings.probe_size), True
            return 0, False

    def gate(self, size: int, probe: bool, stopping: threading.Event) -> "BatchGate":
        need = max(1, math.ceil(size / 2)) if probe else self.settings.min_failures
        return BatchGate(self, probe, stopping, need)

    def trip(self, cause: str, retry_after_s: float | None, detail: str) -> None:
        with self._lock:
            now = self.clock()
            if self.state == OPEN:
                if cause == AUTH and self.cause != AUTH:
                    self.cause = AUTH
                    self._tell_auth(detail)
                return  # another lane's batch saw the same outage
            first = self.state == CLOSED
            self.pause_s = self.settings.base_s if first else min(self.settings.max_s, self.pause_s * 2)
            pause = self.pause_s * (0.5 + self.rng() / 2)
            if retry_after_s is not None and math.isfinite(retry_after_s):
                pause = max(pause, min(retry_after_s, self.settings.max_s))
            self.state, self.open_until = OPEN, now + timedelta(seconds=pause)
            if first:
                self._since = now
                self.cause = cause
                PUSH_BREAKER_TRIPS.labels(cause).inc()
                PUSH_BREAKER_OPEN.set(1)
                if cause == AUTH:
                    self._tell_auth(detail)
                else:
                    log.warning(
                        "FCM is failing for everyone (%s): sending paused for %.1f s, then a probe of %d; "
                        "pushes wait in the outbox",
                        detail, pause, self.settings.probe_size,
                    )
            elif cause == AUTH and self.cause != AUTH:
                self.cause = AUTH
                self._tell_auth(detail)
            else:
                log.debug("FCM still failing (%s): paused for %.1f s", detail, pause)

    def _tell_auth(self, detail: str) -> None:
        if not self._auth_told:
            self._auth_told = True
            log.error(
                "FCM REFUSES THE SERVICE'S CREDENTIALS (%s): no push is sent until it accepts them again; "
                "pushes are held in the outbox, not lost. Check DEALSVC_FCM_CREDENTIALS and that the FCM API "
                "is enabled for the project.",
                detail,
            )

    def probe_abandoned(self) -> None:
        """The probe could not be made (the database failed before it was sent, or nothing was
        due): the next lane probes again, without a longer pause and without closing."""
        with self._lock:
            if self.state == PROBING:
                self.state, self.open_until = OPEN, self.clock()

    def probe_done(self, tripped: bool) -> None:
        """The probe's answers are in: closed again unless they tripped the breaker."""
        with self._lock:
            if tripped or self.state != PROBING:
                return
            lasted = (self.clock() - self._since).total_seconds() if self._since else 0.0
            cause, self.state, self.cause, self.open_until, self.pause_s = self.cause, CLOSED, None, None, 0.0
            auth, self._auth_told = self._auth_told, False
            PUSH_BREAKER_OPEN.set(0)
        if auth:
            log.warning("FCM accepts the service's credentials again after %.0f s: sending resumes", lasted)
        else:
            log.warning("FCM answers again after %.0f s (%s): sending resumes", lasted, cause)


class BatchGate:
    """One batch on the wire (adapters.push.SendGate): stops its sends that have not started
    once the breaker opens or the dispatcher stops, and trips the breaker from its answers."""

    def __init__(self, breaker: Breaker, probe: bool, stopping: threading.Event, need: int):
        self.breaker = breaker
        self.probe = probe
        self.stopping = stopping
        self.need = need
        self.answers = 0
        self.failures = 0
        self.retry_after_s: float | None = None
        self.tripped = False
        self._lock = threading.Lock()

    def may_send(self) -> bool:
        if self.stopping.is_set() or self.tripped:
            return False
        state = self.breaker.state
        return state == CLOSED or (self.probe and state == PROBING)

    def answered(self, result: PushResult) -> None:
        outcome = result.outcome
        if outcome != RETRY and outcome != AUTH_FAILED:
            with self._lock:
                self.answers += 1
            return
        with self._lock:
            self.answers += 1
            self.failures += 1
            if result.retry_after_s is not None:
                self.retry_after_s = max(self.retry_after_s or 0.0, result.retry_after_s)
            trip = not self.tripped and (
                outcome == AUTH_FAILED or (self.failures >= self.need and self.failures * 2 >= self.answers)
            )
            if trip:
                self.tripped = True
            failures, answers = self.failures, self.answers
        if outcome == AUTH_FAILED:
            PUSH_AUTH_FAILURES.inc()
        if trip:
            if outcome == AUTH_FAILED:
                detail = f"{result.error}"
                self.breaker.trip(AUTH, self.retry_after_s, detail)
            else:
                self.breaker.trip(TRANSIENT, self.retry_after_s, f"{failures} of {answers} answers {result.error}")

    @property
    def held(self) -> bool:
        """Whether this batch's transient failures are FCM's outage rather than their own: then
        they go back to the outbox unspent. A probe that did not trip the breaker says FCM is
        back: its few failures are the messages' own."""
        state = self.breaker.state
        return self.tripped or state == OPEN or (not self.probe and state == PROBING)
