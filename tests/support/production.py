"""The production shape in a test: nginx, gunicorn and worker processes on PostgreSQL, waited for by condition."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from config import testing
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS_ENV
from tests.nginx_proxy import nginx_in_front_of
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT = "dealsvc-prod-shape"
RESIDENTS = 20_000
SHOPS = [(45.4642 + dy, 9.1900 + dx) for dy in (-0.05, 0.05) for dx in (-0.05, 0.05)]  # ~5 km apart
BATCH = 250
LANES = 2
LEASE_S = 5

pytestmark = pytest.mark.timeout(900)


def wait_for(what: str, check, timeout_s: float, procs=()) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        for name, proc in procs:
            assert proc.poll() is None, f"{name} exited with {proc.returncode} while waiting for {what}"
        try:
            if check():
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Shape:
    """The processes of one deployment, each logging to its own file."""

    def __init__(self, url: str, tmp: Path):
        self.tmp = tmp
        self.port = free_port()
        self.emulator_port = free_port()
        # gunicorn itself; clients go through nginx (self.web, once it is started).
        self.gunicorn = f"http://127.0.0.1:{self.port}"
        self.web = self.gunicorn
        self.emulator = f"http://127.0.0.1:{self.emulator_port}/emulator"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DEALSVC_DATABASE_URL": url,
            "DEALSVC_WORKERS": "external",
            "DEALSVC_AUTO_MIGRATE": "0",
            "DEALSVC_ADMIN_TOKEN": ADMIN_TOKEN,
            "DEALSVC_GEOCODER": "none",
            "DEALSVC_FCM_ENDPOINT": f"{self.emulator}/fcm",
            "DEALSVC_FCM_PROJECT_ID": PROJECT,
            "DEALSVC_PUSH_BATCH_SIZE": str(BATCH),
            "DEALSVC_PUSH_LANES": str(LANES),
            "DEALSVC_PUSH_LEASE_S": str(LEASE_S),
            # One reverse proxy in front (deploy/dealsvc.env.example).
            "DEALSVC_TRUSTED_PROXIES": "1",
            **GENEROUS_RATE_LIMITS_ENV,
        }
        redis_url = testing.test_redis_url()
        if redis_url:  # the rate limits shared by the 4 workers, as in production
            self.env["DEALSVC_REDIS_URL"] = redis_url
            self.env["DEALSVC_RATE_LIMIT_KEY_PREFIX"] = "prodshape-" + secrets.token_hex(4)
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def production_shape(url: str, tmp: Path):
    shape = Shape(url, tmp)
    try:
        migrate = subprocess.run(
            [sys.executable, "-m", "dealsvc", "migrate"], cwd=ROOT, env=shape.env, capture_output=True, text=True
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        shape.start("emulator", [sys.executable, "-m", "dealsvc.emulator", "--port", str(shape.emulator_port)])
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        # The Procfile's web process: deploy/gunicorn.conf.py, 4 workers x 4 threads.
        shape.start("web", [gunicorn, "--config", "deploy/gunicorn.conf.py", "-b", f"127.0.0.1:{shape.port}", "wsgi:app"])
        shape.start("scheduler", [sys.executable, "-m", "workers.scheduler"])
        # Every worker's app built (a worker accepts connections only then).
        wait_for("the web tier", lambda: requests.get(shape.gunicorn + "/readyz", timeout=2).ok
                  and shape.log("web").count("dealsvc ready on") >= 4, 90, shape.procs)
        wait_for("the emulator", lambda: requests.get(shape.emulator + "/api/tokens", timeout=2).ok, 30, shape.procs)
        with nginx_in_front_of(shape.port, tmp / "nginx") as nginx:
            shape.web = nginx.url
            wait_for("the web tier through nginx", lambda: requests.get(shape.web + "/readyz", timeout=2).ok, 30, shape.procs)
            yield shape
    finally:
        shape.stop_all()
