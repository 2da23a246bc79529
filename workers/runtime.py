"""Running a worker loop as a process: built from the composition root, stopped by a signal."""
from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Callable

from config import Settings, SettingsError
from dealsvc import logs, observability
from dealsvc.adapters.db import make_engine
from dealsvc.bootstrap import Container, bootstrap, database_problem


def run_process(
    name: str, loop: Callable[[Container, threading.Event], None], *, pushes: bool = False, pre_ping: bool = True
) -> int:
    """Runs `loop` until SIGTERM or SIGINT; 1 at once, after one line saying why, when it cannot
    work (a setting, no FCM to push to when `pushes`, a database that does not exist).
    `pre_ping`: as make_engine's."""
    log = logging.getLogger(name)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        logging.basicConfig(format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s")
        log.error("%s", exc)
        return 1
    logs.configure(settings, process=name)
    observability.require_multiprocess(settings.metrics_dir)
    if pushes and settings.push_target_missing:
        log.error("%s", settings.push_target_missing)
        return 1
    problem = database_problem(settings)
    if problem is not None:
        # A database that is only away (a restart) is waited for by the loop; one that must
        # be created or a URL that must be fixed is not, nor any when the schema is to be
        # upgraded first.
        if problem.lasting or settings.auto_migrate:
            log.error("%s", problem.message)
            return 1
        log.warning("%s", problem.message)
    container = bootstrap(settings, engine=make_engine(settings.database_url, pre_ping=pre_ping))
    stop = threading.Event()

    def _stop(signum, _frame):
        logging.getLogger(name).info("signal %s: finishing the current batch, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
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
