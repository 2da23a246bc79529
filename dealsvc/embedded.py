"""Embedded mode: the workers' loops as daemon threads of the web process."""
from __future__ import annotations

import atexit
import logging
import threading

from .bootstrap import Container

log = logging.getLogger(__name__)


class EmbeddedWorkers:
    def __init__(self, container: Container):
        self.container = container
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> "EmbeddedWorkers":
        for name, loop in (
            ("dispatcher", self.container.dispatcher.run_forever),
            ("scheduler", self.container.scheduler.run_forever),
        ):
            thread = threading.Thread(target=loop, args=(self.stop,), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)
        atexit.register(self.shutdown)
        log.info("embedded workers started: %s", ", ".join(t.name for t in self.threads))
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
