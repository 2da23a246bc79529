"""What `make run` starts: one process with the API, the embedded dispatcher and scheduler,
and the built-in FCM emulator — an offer posted over HTTP reaches a phone's inbox. It listens on
127.0.0.1 only, and its log is not flooded by APScheduler. What would stop it (a port in use, a
database that does not exist) is said in one line, before the banner and the migration; the
workers and `python -m dealsvc migrate` say the same in one line."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from config import testing
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_embedded_default_delivers_a_push_to_the_emulator(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALSVC_")}
    env.update(
        DEALSVC_PORT=str(port),
        DEALSVC_DATABASE_URL=f"sqlite:///{tmp_path / 'dealsvc.db'}",
        DEALSVC_GEOCODER="none",
    )
    log = open(tmp_path / "server.log", "w")
    # `make run` itself (its virtual environment taken as made: this test's interpreter), in a
    # process group of its own so that the stop reaches the service under make.
    server = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.runtime", "run", f"PY={sys.executable}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still booting
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)

        banner = (tmp_path / "server.log").read_text()
        assert f"API docs:       {base}/api/docs" in banner
        assert "operator token: dsa_" in banner
        # The banner lists the pages a person opens, and each of them answers.
        pages = _banner_pages(banner, base)
        assert {"/shop/", "/admin/", "/app/", "/emulator/", "/api/docs"} <= set(pages), pages
        for path, url in pages.items():
            assert requests.get(url, timeout=10).status_code == 200, url

        key = requests.post(f"{base}/api/v1/merchants", json={"name": "Forno", "email": "f@shop.example"}).json()["api_key"]
        auth = {"Authorization": f"Bearer {key}"}
        shop = requests.post(f"{base}/api/v1/shops", json={"name": "Forno", "category": "bakery", "lat": 45.4642, "lon": 9.19}, headers=auth).json()
        requests.post(f"{base}/api/v1/subscribers", json={"fcm_token": "phone-near", "lat": 45.466, "lon": 9.19, "radius_m": 800})
        requests.post(f"{base}/api/v1/subscribers", json={"fcm_token": "phone-far", "lat": 45.50, "lon": 9.19, "radius_m": 800})
        expires = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
        offer = requests.post(
            f"{base}/api/v1/offers",
            json={"shop_id": shop["id"], "title": "Pane di ieri", "category": "bakery", "original_price_cents": 400,
                  "discount_pct": 50, "quantity": 6, "expires_at": expires},
            headers=auth,
        ).json()

        deadline = time.monotonic() + 20
        while not (items := requests.get(f"{base}/emulator/api/messages", params={"token": "phone-near"}).json()["items"]):
            assert time.monotonic() < deadline, "no push arrived"
            time.sleep(0.2)
        assert items[0]["message"]["data"]["offer_id"] == offer["id"]
        assert requests.get(f"{base}/emulator/api/messages", params={"token": "phone-far"}).json()["items"] == []
        assert "phone-near" not in (tmp_path / "server.log").read_text()  # tokens stay out of logs

        # Listening on loopback only: nothing on this port answers from another interface.
        listening = _listening_addresses(port)
        print(f"\nmake run listens on {sorted(listening)}")
        assert listening and all(a in ("127.0.0.1", "::1") for a in listening), listening
        assert "FCM emulator served at /emulator/ to loopback clients only" in (tmp_path / "server.log").read_text()

        # The README's "Try it", pasted as it is into bash beside this `make run`.
        tried = subprocess.run(["bash"], input=_readme_try_it(), cwd=ROOT, capture_output=True, text=True, timeout=120,
                               env={**os.environ, "DEALSVC_PORT": str(port)})
        print(f"\nthe README's try-it said:\n{tried.stdout}{tried.stderr}")
        assert tried.returncode == 0 and tried.stderr == "", tried.stderr
        said = tried.stdout.splitlines()
        assert "-50% Pane di ieri at Forno Rossi" in said[0]  # the push on the phone
        assert "Pane di ieri" in said[1] and "collected" in said, said
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    text = (tmp_path / "server.log").read_text()
    # Stopping is clean too: the embedded workers shut down without a traceback.
    assert "Traceback" not in text
    # The embedded scheduler ran its jobs every second, and APScheduler said nothing about it.
    lines = text.splitlines()
    noisy = [line for line in lines if " apscheduler" in line]
    print(f"log: {len(lines)} lines, {len(noisy)} from APScheduler")
    assert noisy == [], noisy[:5]


def _banner_pages(banner: str, base: str) -> dict[str, str]:
    """Path -> URL of the pages `make run`'s banner lists (the lines before the API's own)."""
    start = banner.index("dealsvc is starting")
    lines = banner[start:].splitlines()[1:]
    pages = {}
    for line in lines[:next(i for i, line in enumerate(lines) if line.strip().startswith("API:"))]:
        url = line.split()[-1]
        assert url.startswith(base), line
        pages[url[len(base):]] = url
    return pages


def _readme_try_it() -> str:
    """The shell block under the README's "Try it" heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Try it"):]
    start = section.index("```sh\n") + len("```sh\n")
    return section[start:section.index("\n```", start)]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on `port` (/proc/net/tcp and tcp6)."""
    found = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _env(tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALSVC_")}
    env.update({"DEALSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'dealsvc.db'}", "DEALSVC_GEOCODER": "none", **changes})
    return env


def _said(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def test_a_second_make_run_on_a_port_in_use_says_which_variable_to_set(tmp_path):
    with socket.socket() as taken:  # the first `make run`
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "dealsvc", "run"], cwd=ROOT, timeout=60,
                              env=_env(tmp_path, DEALSVC_PORT=str(port)), capture_output=True, text=True)
    took = time.monotonic() - started
    said = _said(done)
    print(f"\nexit {done.returncode} after {took:.1f} s: {said}")
    assert done.returncode != 0
    assert len(said) == 1 and f"127.0.0.1:{port} is already in use" in said[0] and "DEALSVC_PORT" in said[0], said
    assert "dealsvc is starting" not in done.stdout  # no banner
    assert not (tmp_path / "dealsvc.db").exists(), "migrated before finding the port taken"


def _missing_databases(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Database URL -> what the one line must say to create it."""
    cases = {"sqlite": (f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'dealsvc.db'}", f"mkdir -p {tmp_path / 'no' / 'such' / 'dir'}")}
    pg = testing.test_database_url()
    if pg is not None:
        parts = urlsplit(pg)
        name = f"nosuchdb_{os.getpid()}"
        cases["postgresql"] = (urlunsplit(parts._replace(path=f"/{name}", query="")), f"createdb -h {parts.hostname}")
    return cases


COMMANDS = {
    "migrate": ["dealsvc", "migrate"],
    "run": ["dealsvc", "run"],
    "dispatcher": ["workers.dispatcher"],
    "scheduler": ["workers.scheduler"],
}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_database_that_does_not_exist_is_one_line_saying_how_to_create_it(engine, tmp_path):
    cases = _missing_databases(tmp_path)
    if engine not in cases:
        pytest.skip("DEALSVC_TEST_DATABASE_URL=none: no PostgreSQL to ask")
    url, fix = cases[engine]
    # The four at once (each is mostly its imports).
    started = {name: subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=_env(tmp_path, DEALSVC_DATABASE_URL=url, DEALSVC_PORT="0"))
               for name, argv in COMMANDS.items()}
    try:
        for name, proc in started.items():
            out, err = proc.communicate(timeout=60)
            done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
            said = _said(done)
            print(f"\n{engine} {name}: exit {done.returncode}: {said}")
            assert done.returncode != 0, f"{name} started"
            assert len(said) == 1, f"{name}: {len(said)} lines:\n" + "\n".join(said[-20:])
            assert "does not exist" in said[0] and fix in said[0], said[0]
    finally:
        for proc in started.values():  # one that started after all, or was not waited for
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not (tmp_path / "no").exists(), "the missing directory was made behind the user's back"


def test_apscheduler_lines_come_back_when_asked_for(tmp_path):
    """DEALSVC_APSCHEDULER_LOG_LEVEL=INFO, for looking into the scheduler."""
    env = _env(tmp_path, DEALSVC_APSCHEDULER_LOG_LEVEL="INFO")
    log_path = tmp_path / "scheduler.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "workers.scheduler"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while " apscheduler" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
