"""A worker loop's run of failures (the database away, most often): one line when it starts,
one when it ends, and a growing, capped, jittered sleep between tries in between, instead of a
traceback per try."""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable

from .ports import DatabaseError

BASE_S = 0.5


def is_database_error(error: BaseException) -> bool:
    """The database could not be used (unreachable, connection lost, shutting down, ...)."""
    return isinstance(error, (DatabaseError, ConnectionError))


def describe(error: BaseException) -> str:
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first[:200]}"


class Outage:
    """Shared by the threads of one worker (a dispatcher's lanes, the scheduler's loop and its
    jobs), so that an outage is told once per process, not once per thread or per try."""

    def __init__(
        self,
        worker: str,
        logger: logging.Logger,
        max_s: float = 10.0,
        base_s: float = BASE_S,
        rng: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.worker = worker
        self.log = logger
        self.base_s = base_s
        self.max_s = max(max_s, 0.0)
        self.rng = rng
        self.monotonic = monotonic
        self.failures = 0
        self._since = 0.0
        self._lock = threading.Lock()

    def failed(self, error: BaseException) -> float:
        """Note a failed try; returns how long to wait before the next one."""
        with self._lock:
            self.failures += 1
            failures = self.failures
            if failures == 1:
                self._since = self.monotonic()
        if failures == 1:
            if is_database_error(error):
                self.log.error(
                    "%s: database unavailable (%s); retrying with backoff up to %g s, quiet until it is back",
                    self.worker, describe(error), self.max_s,
                )
            else:
                self.log.error(
                    "%s: iteration failed; retrying with backoff up to %g s, quiet until it succeeds",
                    self.worker, self.max_s, exc_info=error,
                )
        elif is_database_error(error):
            self.log.debug("%s: still failing (%s)", self.worker, describe(error))
        else:
            # Not an outage but a fault of the worker's own (a bug, a bad row): it must stay
            # visible while it lasts, one line per try (the backoff spaces them out).
            self.log.error("%s: still failing (%s)", self.worker, describe(error))
        step = min(self.max_s, self.base_s * 2.0 ** min(failures - 1, 32))
        return step * (0.5 + self.rng() / 2)

    def succeeded(self) -> None:
        """Note a successful try; ends the outage if there was one."""
        if not self.failures:  # the usual case: no lock taken
            return
        with self._lock:
            failures, self.failures = self.failures, 0
            lasted = self.monotonic() - self._since
        if failures:
            self.log.warning("%s: working again after %.1f s (%d failed tries)", self.worker, lasted, failures)
