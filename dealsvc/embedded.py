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
        dispatcher = threading.Thread(
            target=self.container.dispatcher.run_forever, args=(self.stop,), name="dispatcher", daemon=True
        )
        dispatcher.start()
        self.threads.append(dispatcher)
        atexit.register(self.shutdown)
        log.info("embedded workers started: %s", ", ".join(t.name for t in self.threads))
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
