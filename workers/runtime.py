"""Running a worker loop as a process: built from the composition root, stopped by a signal."""
from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Callable

from config import Settings
from dealsvc import observability
from dealsvc.bootstrap import Container, bootstrap


def run_process(name: str, loop: Callable[[Container, threading.Event], None]) -> int:
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s")
    if settings.log_level != "DEBUG":
        # APScheduler logs two lines per job run at INFO: several a second, every second.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    observability.require_multiprocess(settings.metrics_dir)
    container = bootstrap(settings)
    stop = threading.Event()

    def _stop(signum, _frame):
        logging.getLogger(name).info("signal %s: finishing the current batch, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log = logging.getLogger(name)
    # One line that says the process is up, whatever its loop will find to do: process
    # managers' logs and the deploy tests look for it.
    log.info("%s started (pid %d, database %s)", name, os.getpid(), settings.database_url.split("@")[-1].split("?")[0])
    try:
        loop(container, stop)
    finally:
        container.close()
        # gunicorn's child_exit does this for the web workers; a process killed outright leaves
        # its live gauges until the next deployment empties the directory.
        observability.mark_process_dead(os.getpid(), settings.metrics_dir)
    log.info("%s stopped", name)
    return 0
