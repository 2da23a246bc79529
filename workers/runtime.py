"""Running a worker loop as a process: built from the composition root, stopped by a signal."""
from __future__ import annotations

import logging
import signal
import threading
from typing import Callable

from config import Settings
from dealsvc.bootstrap import Container, bootstrap


def run_process(name: str, loop: Callable[[Container, threading.Event], None]) -> int:
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s")
    container = bootstrap(settings)
    stop = threading.Event()

    def _stop(signum, _frame):
        logging.getLogger(name).info("signal %s: finishing the current batch, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        loop(container, stop)
    finally:
        container.close()
    return 0
