"""Dispatcher processes against a seeded database: a thousand residents, an offer for them, the work left."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from geographiclib.geodesic import Geodesic
from sqlalchemy import func, select

from dealsvc.adapters.db.models import Notification, Subscriber
from dealsvc.services.auth import MERCHANT, Principal
from tests.fakes.fcm_emulator import PROJECT_ID

ROOT = Path(__file__).resolve().parent.parent.parent
SHOP = (45.4642, 9.1900)
RESIDENTS = 1000
BATCH = 50
LANES = 2  # batches a dispatcher process holds at once


def seed(container, post: bool = True):
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
    return post_offer(container, owner, shop["id"]) if post else (owner, shop["id"])


def post_offer(container, owner, shop_id) -> str:
    offer = container.offers.create(
        owner,
        {"shop_id": shop_id, "title": "Pane", "category": "bakery", "original_price_cents": 400,
         "discount_pct": 50, "quantity": 10, "expires_at": container.clock() + timedelta(hours=2)},
    )
    return offer["id"]


def start_dispatcher(database_url: str, fcm_base: str, log_level: str = "INFO", log=None) -> subprocess.Popen:
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


def open_work(container, offer_id: str) -> int:
    with container.db.read() as s:
        return s.scalar(
            select(func.count()).select_from(Notification).where(
                Notification.offer_id == offer_id, Notification.status.in_(["pending", "sending"])
            )
        )
