"""The real service under gunicorn for a test (tests/conftest.py `multiworker_server`), started
for the test or, in a module that says so, once for the module's tests on a database.

Starting it costs its four processes' imports and apps (about 2 s of CPU each, 10-20 s of wall
time beside other tests) and up to its graceful timeout to stop. A module whose tests only send
it requests and read the database, none depending on state kept in its processes (rate limits
counted in memory, indexes over rows a test deleted), sets `ONE_SERVER_PER_MODULE = True`:
its tests then share one server per database and set of variables, each test's database emptied
as always by its `container`. Each test still sees only its own part of the log, and fails on a
traceback in that part; the server's shutdown is checked when the module ends.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS_ENV
from tests.support.processes import ROOT, terminate, wait_until_served

WORKERS = 4


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
def gunicorn_service(database_url: str, log_path: Path, extra_env: dict[str, str]) -> Iterator[LiveService]:
    """The service, 4 processes x 4 threads, on the (migrated) database, with no background
    workers; stopped at the end. Fails the test when it does not start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
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
            [str(gunicorn), "-w", str(WORKERS), "--threads", "4", "-b", f"127.0.0.1:{port}", "--no-control-socket",
             "--graceful-timeout", "5", "wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    service = LiveService(f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until_served(proc, service.url, service.log, also=lambda: service.log().count("Booting worker") >= WORKERS)
        yield service
    finally:
        terminate(proc)


class ModuleServers:
    """The servers of one test module, one per database and set of variables. Only one runs at a
    time: the tests come grouped by database, so a server is stopped when another is asked for."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.key: tuple | None = None
        self.running = None  # the context manager of the running server
        self.service: LiveService | None = None

    def get(self, database_url: str, extra_env: dict[str, str]) -> LiveService:
        key = (database_url, tuple(sorted(extra_env.items())))
        if key != self.key:
            self.close()
            running = gunicorn_service(database_url, self.log_dir / f"gunicorn-{len(list(self.log_dir.iterdir()))}.log",
                                       extra_env)
            self.service = running.__enter__()
            self.running, self.key = running, key
        assert self.service is not None
        return self.service

    def close(self) -> None:
        """Stops the running server; fails on a traceback its shutdown logged."""
        running, service = self.running, self.service
        self.running = self.service = self.key = None
        if running is None:
            return
        running.__exit__(None, None, None)
        assert "Traceback" not in service.log(), service.log()
