"""10,000 offers expiring within the same minute: how late does each become `expired`?

    .venv/bin/python -m bench.expiry [--offers 10000] [--window 60] [--db sqlite|URL]

Runs the project's scheduler (a date job per offer plus the sweep) and, on a second batch of
the same shape, the obvious alternative: a periodic sweep alone (every second). Lateness is
the time between an offer's expires_at and the commit that marked it expired (its updated_at).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from config import Settings
from dealsvc.adapters.db.models import Offer
from dealsvc.adapters.db.store import Store
from dealsvc.bootstrap import bootstrap
from dealsvc.domain.credentials import new_id
from dealsvc.services.auth import MERCHANT, Principal
from dealsvc.services.scheduler import Scheduler

# The smallest run that still goes through every step (tests/e2e/test_benchmarks.py).
TINY = ["--offers", "50", "--window", "1", "--lead", "2"]


def _seed(container, count: int, lead_s: float, window_s: float) -> list[str]:
    merchant = container.merchants.register("Bench Bakery", f"{new_id('b')}@bench.example")
    owner = Principal(MERCHANT, merchant["id"], "active")
    shop = container.shops.create(owner, {"name": "Bench Bakery", "category": "bakery", "lat": 45.46, "lon": 9.19})
    now = container.clock()
    start = now + timedelta(seconds=lead_s)
    ids = []
    with container.db.write() as s:
        for i in range(count):
            offer_id = new_id("off")
            ids.append(offer_id)
            s.add(
                Offer(
                    id=offer_id, shop_id=shop["id"], title="Bench bread", description=None, category="bakery",
                    original_price_cents=400, price_cents=200, discount_pct=50.0, currency="EUR", quantity=5,
                    quantity_left=5, expires_at=start + timedelta(seconds=window_s * i / count), status="active",
                    image_url=None, created_at=now, updated_at=now,
                )
            )
    return ids


def _wait_until_expired(container, ids: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with container.db.read() as s:
            left = s.scalar(select(func.count()).select_from(Offer).where(Offer.id.in_(ids), Offer.status != "expired"))
        if not left:
            return
        time.sleep(0.5)
    raise SystemExit(f"{left} offers still not expired after {timeout_s:.0f} s")


def _lateness(container, ids: list[str]) -> list[float]:
    with container.db.read() as s:
        rows = s.execute(select(Offer.expires_at, Offer.updated_at).where(Offer.id.in_(ids))).all()
    return sorted((updated - expires).total_seconds() for expires, updated in rows)


def _report(name: str, lateness: list[float]) -> None:
    n = len(lateness)
    print(
        f"{name:<44} offers {n:,}  median {statistics.median(lateness) * 1000:7.0f} ms  "
        f"p99 {lateness[int(n * 0.99) - 1] * 1000:7.0f} ms  worst {lateness[-1] * 1000:7.0f} ms"
    )


def _run_scheduler(container, scheduler: Scheduler, ids, timeout_s: float) -> list[float]:
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        _wait_until_expired(container, ids, timeout_s)
    finally:
        stop.set()
        thread.join(30)
    return _lateness(container, ids)


class _SweepOnly(Scheduler):
    """The obvious alternative: no date jobs, a sweep every second."""

    def sync(self) -> None:
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which they expire")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds before the first expiry")
    parser.add_argument("--db", default="sqlite", help="'sqlite' (a temporary file) or a database URL")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}" if args.db == "sqlite" else args.db
        container = bootstrap(Settings(database_url=url, admin_token="bench", var_dir=Path(tmp), geocoder="none"))
        try:
            print(f"{args.offers:,} offers expiring within {args.window:.0f} s, on {url.split('@')[-1]}\n")
            timeout = args.lead + args.window + 60

            ids = _seed(container, args.offers, args.lead, args.window)
            scheduler = Scheduler(Store(container.db), container.clock, container.expiry)
            project = _run_scheduler(container, scheduler, ids, timeout)
            _report("scheduler: date job per offer + sweep (2 s)", project)

            ids = _seed(container, args.offers, args.lead, args.window)
            sweep_only = _SweepOnly(Store(container.db), container.clock, container.expiry, sweep_every=timedelta(seconds=1))
            alternative = _run_scheduler(container, sweep_only, ids, timeout)
            _report("alternative: a sweep every second alone", alternative)
        finally:
            container.close()
    ok = project[-1] < 1.0
    print(f"\ntarget: worst lateness under 1 s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
