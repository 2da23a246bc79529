"""Worker processes of the service started by tests, their logs read as they grow."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from config import testing
from tests.support.api import ADMIN_TOKEN, SCHEDULER_LEASE_S

ROOT = Path(__file__).resolve().parent.parent.parent


class WorkerProcess:
    """`python -m workers.<kind>` against the test database, its log kept in a file and read as it grows."""

    def __init__(self, kind: str, database_url: str, log_path: Path, extra_env: dict[str, str]):
        self.kind = kind
        self.log_path = log_path
        self._offset = 0
        env = {
            **os.environ,
            "DEALSVC_DATABASE_URL": database_url,
            "DEALSVC_ADMIN_TOKEN": ADMIN_TOKEN,
            "DEALSVC_GEOCODER": "none",
            "DEALSVC_AUTO_MIGRATE": "0",
            "DEALSVC_LOG_LEVEL": "INFO",
            "DEALSVC_SCHEDULER_LEASE_S": str(SCHEDULER_LEASE_S),
            **({"DEALSVC_FCM_TRANSPORT": testing.test_fcm_transport()} if testing.test_fcm_transport() else {}),
            **extra_env,
        }
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"workers.{kind}"],
                cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=log,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def new_lines(self) -> list[str]:
        """The complete log lines written since the last call."""
        with open(self.log_path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        return chunk[:end].decode(errors="replace").splitlines()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to release anything."""
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_served(proc: subprocess.Popen, url: str, log, also=lambda: True, timeout_s: float = 60) -> None:
    """Until gunicorn at `url` answers /readyz with 200 (and `also()` holds); a failed test, with
    its log (`log()`), when it exits or is not ready within the timeout."""
    import time

    import pytest
    import requests

    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited with {proc.returncode}:\n{log()}")
        try:
            ready = requests.get(url + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            ready = False  # not listening yet, or no worker has booted
        if ready and also():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"gunicorn did not become ready:\n{log()}")
        time.sleep(0.2)


def terminate(proc: subprocess.Popen, timeout_s: float = 15, sig: int = signal.SIGTERM) -> None:
    """SIGTERM (or `sig`), then SIGKILL if it has not exited within the timeout."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
