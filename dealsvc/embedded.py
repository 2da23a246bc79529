"""Embedded mode: the workers' loops as daemon threads of the web process.

Stopping is ordered: when the interpreter begins to exit (gunicorn's worker returning, Ctrl-C),
the loops are told to stop first, and joined, before the interpreter shuts thread pools down
and before the container (the push gateway's pool, the database) is closed. A lane then starts
no new send; the sends already on the wire finish and are recorded, and what its batch had not
sent yet goes back to the outbox. A lane that does not finish within the timeout keeps its claim
(the lease hands it to the next dispatcher).
"""
from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401 - its exit hook is registered first, so ours runs before it
import logging
import threading

from .bootstrap import Container

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 15.0  # a little more than a push's HTTP timeout (FirebasePushGateway.timeout_s)


def _at_interpreter_exit(callback) -> None:
    """Run `callback` when the interpreter starts to exit, before concurrent.futures refuses
    new work ("cannot schedule new futures after interpreter shutdown") and joins its pools:
    threading's exit hooks run in reverse order of registration, atexit's only after all of
    them. threading._register_atexit is what concurrent.futures itself uses (Python 3.9+)."""
    register = getattr(threading, "_register_atexit", None)
    if register is None:
        atexit.register(callback)
        return
    try:
        register(callback)
    except RuntimeError:  # the interpreter is already exiting
        callback()


class EmbeddedWorkers:
    def __init__(self, container: Container):
        self.container = container
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self._stopped = False
        self._lock = threading.Lock()

    def start(self) -> "EmbeddedWorkers":
        for name, loop in (
            ("dispatcher", self.container.dispatcher.run_forever),
            ("scheduler", self.container.scheduler.run_forever),
        ):
            thread = threading.Thread(target=loop, args=(self.stop,), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)
        _at_interpreter_exit(self.shutdown)
        log.info("embedded workers started: %s", ", ".join(t.name for t in self.threads))
        return self

    def shutdown(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the loops and wait for them (once). Whoever owns the container closes it after
        this (the push gateway's pool must outlive every lane)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
        running = [t.name for t in self.threads if t.is_alive()]
        if running:
            log.warning("embedded workers still running after %.0f s: %s; their claims pass on with the lease",
                        timeout, ", ".join(running))
