"""The production shape on PostgreSQL, as the Procfile runs it: `python -m dealsvc migrate`,
gunicorn serving wsgi:app with 4 workers, one `python -m workers.scheduler`, two
`python -m workers.dispatcher`, and a standalone FCM emulator as the push endpoint.

Offers posted through the web tier reach 20,000 residents: each gets exactly one push, both
dispatchers do part of the work, and a dispatcher killed with SIGKILL halfway through a second
rush loses nothing."""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, insert, select

from config import testing
from dealsvc.adapters.db.models import Notification, Subscriber
from bench.fanout import resident_rows
from tests.conftest import ADMIN_TOKEN, GENEROUS_RATE_LIMITS_ENV

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "dealsvc-prod-shape"
RESIDENTS = 20_000
SHOPS = [(45.4642 + dy, 9.1900 + dx) for dy in (-0.05, 0.05) for dx in (-0.05, 0.05)]  # ~5 km apart
BATCH = 250
LANES = 2
LEASE_S = 5

pytestmark = pytest.mark.timeout(900)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(what: str, check, timeout_s: float, procs=()) -> None:
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
        self.port = _free_port()
        self.emulator_port = _free_port()
        self.web = f"http://127.0.0.1:{self.port}"
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
        _wait_for("the web tier", lambda: requests.get(shape.web + "/readyz", timeout=2).ok
                  and shape.log("web").count("Booting worker") >= 4, 60, shape.procs)
        _wait_for("the emulator", lambda: requests.get(shape.emulator + "/api/tokens", timeout=2).ok, 30, shape.procs)
        yield shape
    finally:
        shape.stop_all()


def _seed_residents(url: str) -> None:
    """20,000 residents straight into the database (20,000 sign-ups over HTTP would test the
    rate limits, not the fan-out), each within 800 m of one shop with a 1-2 km radius, signed
    up the day before."""
    rows = resident_rows(SHOPS, RESIDENTS, "prod", datetime.now(timezone.utc) - timedelta(days=1))
    engine = create_engine(url)
    with engine.begin() as conn:
        for start in range(0, RESIDENTS, 5000):
            conn.execute(insert(Subscriber), rows[start : start + 5000])
    engine.dispose()


def _post_offers(shape: Shape, title: str) -> list[str]:
    """One offer per shop, through the web tier (each request may land on any of its 4 workers)."""
    ids = []
    expires = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    for i, (lat, lon) in enumerate(SHOPS):
        merchant = requests.post(shape.web + "/api/v1/merchants",
                                 json={"name": f"Shop {i}", "email": f"{title.split()[0].lower()}{i}@shape.example"}, timeout=10)
        assert merchant.status_code == 201, merchant.text
        auth = {"Authorization": f"Bearer {merchant.json()['api_key']}"}
        shop = requests.post(shape.web + "/api/v1/shops", headers=auth, timeout=10,
                             json={"name": f"Shop {i}", "category": "bakery", "lat": lat, "lon": lon})
        assert shop.status_code == 201, shop.text
        offer = requests.post(shape.web + "/api/v1/offers", headers=auth, timeout=10, json={
            "shop_id": shop.json()["id"], "title": title, "category": "bakery",
            "original_price_cents": 400, "discount_pct": 50, "quantity": 10, "expires_at": expires,
        })
        assert offer.status_code == 201, offer.text
        ids.append(offer.json()["id"])
    return ids


def _received(shape: Shape, title: str) -> Counter:
    """Pushes the emulator accepted for offers titled `title`, per token."""
    items = requests.get(shape.emulator + "/api/messages", timeout=60).json()["items"]
    return Counter(m["token"] for m in items if m["message"].get("data", {}).get("title") == title)


def _rows(url: str, offer_ids: list[str]) -> tuple[Counter, Counter, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        statuses = Counter(dict(conn.execute(
            select(Notification.status, func.count()).where(Notification.offer_id.in_(offer_ids))
            .group_by(Notification.status)).all()))
        by = Counter(dict(conn.execute(
            select(Notification.sent_by, func.count()).where(Notification.offer_id.in_(offer_ids), Notification.status == "sent")
            .group_by(Notification.sent_by)).all()))
        residents = conn.scalar(select(func.count(func.distinct(Notification.subscriber_pk)))
                                .where(Notification.offer_id.in_(offer_ids), Notification.status == "sent"))
    engine.dispose()
    return statuses, by, residents


def _sent(url: str, offer_ids: list[str]) -> int:
    return _rows(url, offer_ids)[0].get("sent", 0)


def test_production_shape_reaches_everyone_once_and_survives_a_dead_dispatcher(pg_url, tmp_path):
    with production_shape(pg_url, tmp_path) as shape:
        _seed_residents(pg_url)
        # The operator tells everyone in reach at once (no stock-sized waves): the rush at full size.
        rules = requests.put(shape.web + "/api/v1/admin/rules", json={"waves_enabled": False}, timeout=10,
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert rules.status_code == 200 and rules.json()["waves_enabled"] is False, rules.text
        dispatchers = [shape.start(f"dispatcher-{i}", [sys.executable, "-m", "workers.dispatcher"]) for i in range(2)]
        pids = {f"{socket.gethostname()}:{d.pid}" for d in dispatchers}

        # A first rush: every resident exactly one push, both dispatchers at work.
        first = _post_offers(shape, "Pane di ieri")
        _wait_for("the first rush", lambda: _sent(pg_url, first) >= RESIDENTS, 400, shape.procs)
        statuses, by, residents = _rows(pg_url, first)
        assert statuses == {"sent": RESIDENTS}
        assert residents == RESIDENTS
        assert set(by) <= pids and len(by) == 2, f"pushes per dispatcher: {dict(by)}"
        assert min(by.values()) >= RESIDENTS // 10, f"one dispatcher did almost nothing: {dict(by)}"
        received = _received(shape, "Pane di ieri")
        assert len(received) == RESIDENTS and set(received.values()) == {1}
        print(f"\nfirst rush: pushes per dispatcher {sorted(by.values())}")

        # A second rush, and one dispatcher killed in the middle of it.
        second = _post_offers(shape, "Yogurt")
        _wait_for("the second rush to be under way", lambda: _sent(pg_url, second) >= RESIDENTS // 4, 300, shape.procs)
        victim = dispatchers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        shape.procs = [(n, p) for n, p in shape.procs if p is not victim]
        at_kill = _sent(pg_url, second)
        assert at_kill < RESIDENTS, "the rush was over before the kill: nothing was tested"
        _wait_for("the survivor to finish the rush", lambda: _sent(pg_url, second) >= RESIDENTS, 400, shape.procs)
        statuses, by, residents = _rows(pg_url, second)
        assert statuses == {"sent": RESIDENTS}, "a push was lost or failed"
        assert residents == RESIDENTS
        received = _received(shape, "Yogurt")
        assert set(received) == {f"prod-token-{i:07d}" for i in range(RESIDENTS)}
        duplicates = sum(received.values()) - RESIDENTS
        print(f"second rush: killed after {at_kill} recorded pushes; {duplicates} sent twice "
              f"(at most {LANES} lanes x {BATCH}); pushes per dispatcher {dict(by)}")
        # What the killed dispatcher held when it died (its lanes' batches) is sent again, at
        # most; the phone shows it once, under the offer's collapse key.
        assert duplicates <= LANES * BATCH

        assert "Traceback" not in shape.log("web"), shape.log("web")[-3000:]
        assert "Traceback" not in shape.log("dispatcher-1"), shape.log("dispatcher-1")[-3000:]
        assert "Traceback" not in shape.log("scheduler"), shape.log("scheduler")[-3000:]
