"""A dispatcher process killed with SIGKILL in the middle of a fan-out loses nothing: after a
restart every resident has exactly one sent push, and FCM saw at most the batches in flight
(one per lane) twice."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from geographiclib.geodesic import Geodesic
from sqlalchemy import func, select

from dealsvc.adapters.db.models import Notification, Subscriber
from dealsvc.services.auth import MERCHANT, Principal
from tests.fakes.fcm_emulator import PROJECT_ID, running_emulator

ROOT = Path(__file__).resolve().parent.parent
SHOP = (45.4642, 9.1900)
RESIDENTS = 1000
BATCH = 50
LANES = 2  # batches a dispatcher process holds at once


def _seed(container, post: bool = True):
    # Every resident in reach at once: these tests are about the outbox, not the waves.
    container.rules.update({"waves_enabled": False})
    merchant = container.merchants.register("Forno Rossi", "crash@shop.example")
    owner = Principal(MERCHANT, merchant["id"], "active")
    shop = container.shops.create(owner, {"name": "Forno Rossi", "category": "bakery", "lat": SHOP[0], "lon": SHOP[1]})
    rng = random.Random(1)
    now = container.clock()
    with container.db.write() as s:
        for i in range(RESIDENTS):
            spot = Geodesic.WGS84.Direct(SHOP[0], SHOP[1], rng.uniform(0, 360), rng.uniform(0, 800))
            radius = rng.randint(1000, 2000)
            s.add(
                Subscriber(
                    id=f"sub_crash{i:04d}", secret_hash=f"{i:064d}", fcm_token=f"tok-crash-{i:04d}",
                    lat=spot["lat2"], lon=spot["lon2"], radius_m=radius, categories=[], timezone="UTC",
                    active=True, created_at=now, updated_at=now,
                )
            )
    return _post(container, owner, shop["id"]) if post else (owner, shop["id"])


def _post(container, owner, shop_id) -> str:
    offer = container.offers.create(
        owner,
        {"shop_id": shop_id, "title": "Pane", "category": "bakery", "original_price_cents": 400,
         "discount_pct": 50, "quantity": 10, "expires_at": container.clock() + timedelta(hours=2)},
    )
    return offer["id"]


def _dispatcher(database_url: str, fcm_base: str, log_level: str = "INFO", log=None) -> subprocess.Popen:
    """A dispatcher process; its log goes to `log` (a file: a pipe nobody reads would fill up
    and stall it), or is discarded."""
    env = {
        **os.environ,
        "DEALSVC_LOG_LEVEL": log_level,
        "DEALSVC_DATABASE_URL": database_url,
        "DEALSVC_FCM_ENDPOINT": fcm_base,
        "DEALSVC_FCM_PROJECT_ID": PROJECT_ID,
        "DEALSVC_ADMIN_TOKEN": "crash-test-operator-token-0123456789abcdef",
        "DEALSVC_GEOCODER": "none",
        "DEALSVC_AUTO_MIGRATE": "0",
        "DEALSVC_PUSH_BATCH_SIZE": str(BATCH),
        "DEALSVC_PUSH_LANES": str(LANES),
        # A killed dispatcher's claim is taken over once its lease runs out.
        "DEALSVC_PUSH_LEASE_S": "3",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "workers.dispatcher"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=log if log is not None else subprocess.DEVNULL,
    )


def _open_work(container, offer_id: str) -> int:
    with container.db.read() as s:
        return s.scalar(
            select(func.count()).select_from(Notification).where(
                Notification.offer_id == offer_id, Notification.status.in_(["pending", "sending"])
            )
        )


def test_sigkill_mid_fanout_then_restart_loses_nothing(container, database_url):
    offer_id = _seed(container)
    with running_emulator() as emulator:
        first = _dispatcher(database_url, emulator.fcm_base)
        deadline = time.monotonic() + 60
        while len(emulator.store.messages()) < 200:
            assert first.poll() is None, "the dispatcher died"
            assert time.monotonic() < deadline, "the dispatcher sent nothing"
            time.sleep(0.002)
        first.send_signal(signal.SIGKILL)
        first.wait()
        at_kill = len(emulator.store.messages())
        assert at_kill < RESIDENTS, "the fan-out finished before the kill: nothing was tested"

        second = _dispatcher(database_url, emulator.fcm_base)
        try:
            deadline = time.monotonic() + 90
            while _open_work(container, offer_id):
                assert second.poll() is None, "the restarted dispatcher died"
                assert time.monotonic() < deadline, "the restarted dispatcher did not finish"
                time.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)

        received = Counter(m.token for m in emulator.store.messages())

    with container.db.read() as s:
        statuses = Counter(
            s.scalars(select(Notification.status).where(Notification.offer_id == offer_id)).all()
        )
    assert statuses == {"sent": RESIDENTS}
    assert set(received) == {f"tok-crash-{i:04d}" for i in range(RESIDENTS)}
    duplicates = sum(received.values()) - RESIDENTS
    print(f"\nkilled after {at_kill} pushes; duplicates after restart: {duplicates} (batch size {BATCH}, {LANES} lanes)")
    assert duplicates <= BATCH * LANES
