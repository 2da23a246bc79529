"""gunicorn's settings for the tests' own servers (tests/support/gunicorn.py): the master imports
the application's code, but builds no app, before it forks its workers, so that each worker
starts with the code in memory instead of importing it again (about a second of CPU a worker;
the suite starts some sixty). Each worker still builds its own app, pool and all (wsgi.py).

Production does not do this (deploy/gunicorn.conf.py): a HUP there starts workers with the new
code, which workers forked from a master holding the old modules would not have."""
import os
import sys

from config import export_metrics_environment

# As deploy/gunicorn.conf.py does, before anything imports prometheus_client.
export_metrics_environment()

import dealsvc.app  # noqa: E402,F401


def worker_exit(server, worker):
    """A worker that has stopped serving leaves at once, with the status it was leaving with,
    skipping the interpreter's teardown of every module and object (about half a second of CPU
    a worker, on each of the thirty-odd servers' stops). gunicorn also calls this in the master
    (for a worker it finds already gone): nothing to do there."""
    if worker.pid != os.getpid():
        return
    leaving = sys.exc_info()[1]  # gunicorn calls this while the worker's SystemExit is on its way
    code = leaving.code if isinstance(leaving, SystemExit) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))
