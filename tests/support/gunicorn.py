"""The real service under gunicorn for a test (tests/conftest.py `multiworker_server`), started
for the test or, in a module that says so, once for the module's tests on a database.

Starting it costs its master's import of the code and each worker's app (gunicorn_conf.py: the
workers fork with the code imported), and stopping it about half a second. A module whose tests
do not depend on what an earlier test left in the server's processes (counts of a rate limit kept
in their memory, say, or indexes over rows since deleted) sets `ONE_SERVER_PER_MODULE = True`: its
tests then share one server per database and set of variables (what the module's
`multiworker_env` gives), each test's database emptied as always by its `container`. Each test
still sees only its own part of the log, and fails on a traceback in that part; the servers'
logs are checked again when the module (or its tests on that database) ends. Their workers leave
without the interpreter's teardown (gunicorn_conf.py): a clean stop is what test_deploy_files
checks, on the production settings.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS_ENV
from tests.support.processes import ROOT, free_port, terminate, wait_until_served

WORKERS = 4
CONF = Path(__file__).with_name("gunicorn_conf.py")  # the master imports the code once for its workers


class LiveService:
    """A running gunicorn serving the app: its base URL and its log (from `offset` on)."""

    def __init__(self, url: str, log_path: Path, offset: int = 0):
        self.url = url
        self.log_path = log_path
        self.offset = offset

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")

    def from_now(self) -> "LiveService":
        """The same server, its log from here on: what one test of a shared server wrote."""
        return LiveService(self.url, self.log_path, self.log_path.stat().st_size)


@contextmanager
def gunicorn_service(database_url: str, log_path: Path, extra_env: dict[str, str],
                     workers: int = WORKERS) -> Iterator[LiveService]:
    """The service, `workers` processes x 4 threads, on the (migrated) database, with no
    background workers unless `extra_env` asks for them (DEALSVC_WORKERS=embedded); stopped at
    the end. Fails the test when it does not start."""
    port = free_port()
    env = {
        **os.environ,
        "DEALSVC_DATABASE_URL": database_url,
        "DEALSVC_ADMIN_TOKEN": ADMIN_TOKEN,
        "DEALSVC_GEOCODER": "none",
        "DEALSVC_WORKERS": "external",
        "DEALSVC_AUTO_MIGRATE": "0",
        "DEALSVC_PORT": str(port),
        **GENEROUS_RATE_LIMITS_ENV,
        **extra_env,
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [str(gunicorn), "--config", str(CONF), "-w", str(workers), "--threads", "4", "-b", f"127.0.0.1:{port}",
             "--no-control-socket", "--graceful-timeout", "5", "wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    service = LiveService(f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until_served(proc, service.url, service.log, also=lambda: service.log().count("Booting worker") >= workers)
        yield service
    finally:
        # gunicorn's quick shutdown: the test is over, nothing is in flight, and its graceful one
        # waits for each worker's next look at its sockets (1-2 s a server; the suite stops some
        # thirty). The graceful stop has tests of its own (test_deploy_files, test_push_faults).
        terminate(proc, sig=signal.SIGQUIT)


class ModuleServers:
    """The servers of one test module, one per database and set of variables. The tests come
    grouped by database: the servers of another database are stopped when one is asked for."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.running: dict[tuple, tuple[Any, LiveService]] = {}  # (database, variables): (its context, it)

    def get(self, database_url: str, extra_env: dict[str, str]) -> LiveService:
        key = (database_url, tuple(sorted(extra_env.items())))
        if key not in self.running:
            self.close(keep=database_url)
            running = gunicorn_service(database_url, self.log_dir / f"gunicorn-{len(list(self.log_dir.iterdir()))}.log",
                                       extra_env)
            self.running[key] = (running, running.__enter__())
        return self.running[key][1]

    def close(self, keep: str | None = None) -> None:
        """Stops the servers (but those on the database `keep`); fails on a traceback one logged."""
        logs = []
        for key in [key for key in self.running if key[0] != keep]:
            running, service = self.running.pop(key)
            running.__exit__(None, None, None)
            logs.append(service.log())
        for log in logs:
            assert "Traceback" not in log, log
