"""Logging of every dealsvc process, set up in one place: `make run`, `make demo`, the workers, and
gunicorn's workers (deploy/gunicorn.conf.py takes LOGGER_LEVELS from here)."""
from __future__ import annotations

import logging

from config import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def logger_levels(settings: Settings) -> dict[str, str]:
    """Libraries held at their own level, whatever DEALSVC_LOG_LEVEL says: APScheduler writes two
    INFO lines per job run, several a second (3 lines in 4 of the log), so WARNING unless
    DEALSVC_APSCHEDULER_LOG_LEVEL raises it. Alembic announces its plugins, seven lines, in every
    process that imports it (its migration lines stay)."""
    return {"apscheduler": settings.apscheduler_log_level, "alembic.runtime.plugins": "WARNING"}


def configure(settings: Settings, process: str | None = None) -> None:
    """The root logger at DEALSVC_LOG_LEVEL on stderr (each line tagged with `process`, if
    given), and the libraries of logger_levels() at theirs."""
    fmt = FORMAT if process is None else f"%(asctime)s %(levelname)s {process} %(name)s: %(message)s"
    logging.basicConfig(level=settings.log_level, format=fmt)
    for name, level in logger_levels(settings).items():
        logging.getLogger(name).setLevel(level)
