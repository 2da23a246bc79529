"""100,000 pushes through the dispatchers, next to a plain firebase-admin loop.

    .venv/bin/python -m bench.fanout [--residents 100000] [--offers 50] [--dispatchers 2] [--db URL]

A closing-time rush on PostgreSQL: `--offers` shops post at the same moment, each reaching
residents/offers people around it. `--dispatchers` processes (`python -m workers.dispatcher`,
exactly as in production) send through firebase-admin to bench/fcm_sink.py, an
FCM-v1-compatible endpoint on 127.0.0.1 that accepts every message at once. Printed: pushes per
second (from the first offer's creation to the last push accepted), p50/p99 of the time from an
offer's creation to its last push accepted, the dispatchers' peak memory; then, on the same
endpoint in the same run, the obvious alternative: a plain loop of
`messaging.send_each_for_multicast` in chunks of 500 over the same tokens.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from geographiclib.geodesic import Geodesic
from sqlalchemy import create_engine, func, insert, select, text

from config import Settings
from config.testing import DEFAULT_PG
from dealsvc.adapters.db.models import Notification, Subscriber
from dealsvc.bootstrap import bootstrap
from dealsvc.domain import geo
from dealsvc.services.auth import MERCHANT, Principal

# The smallest run that still goes through every step (tests/test_benchmarks.py); "{pg}" is
# the test PostgreSQL.
TINY = ["--db", "{pg}", "--residents", "200", "--offers", "2", "--dispatchers", "1", "--warmup", "0.5", "--timeout", "60"]

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "bench-fanout"
CENTRE = (45.4642, 9.1900)
GRID_STEP_DEG = 0.05  # about 5 km between shops: each resident is in reach of one shop only


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def _sink_counts(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as response:
        return json.load(response)


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _shops(count: int) -> list[tuple[float, float]]:
    side = max(1, round(count ** 0.5))
    return [
        (CENTRE[0] + (i // side - side / 2) * GRID_STEP_DEG, CENTRE[1] + (i % side - side / 2) * GRID_STEP_DEG)
        for i in range(count)
    ]


def resident_rows(centres: list[tuple[float, float]], count: int, name: str, signed_up) -> list[dict]:
    """Subscriber rows for a bulk insert: resident i within 800 m of centre i % len(centres),
    radius 1-2 km, any category, token f"{name}-token-{i:07d}"; signed up at `signed_up`
    (before the rush, as residents are: not rows the index still re-reads as fresh changes)."""
    rng = random.Random(7)
    rows = []
    for i in range(count):
        lat, lon = centres[i % len(centres)]
        spot = Geodesic.WGS84.Direct(lat, lon, rng.uniform(0, 360), rng.uniform(0, 800))
        radius = rng.randint(1000, 2000)
        box = geo.reach_box(spot["lat2"], spot["lon2"], radius)
        rows.append(
            dict(
                id=f"sub_{name}{i:07d}", secret_hash=f"{name}{i:060d}"[-64:], fcm_token=f"{name}-token-{i:07d}",
                lat=spot["lat2"], lon=spot["lon2"], radius_m=radius, categories=[], timezone="Europe/Rome",
                active=True, min_lat=box.min_lat, max_lat=box.max_lat, min_lon=box.min_lon, max_lon=box.max_lon,
                created_at=signed_up, updated_at=signed_up,
            )
        )
    return rows


def _seed(container, residents: int, shops: list[tuple[float, float]]) -> list:
    """Merchants and shops through the services; residents in bulk (the HTTP API would take
    minutes and is not what this measures)."""
    # Every resident in reach at once: the rush this measures, not stock-sized waves.
    container.rules.update({"waves_enabled": False})
    owners = []
    for i, (lat, lon) in enumerate(shops):
        merchant = container.merchants.register(f"Bench shop {i}", f"shop{i}@bench.example")
        owner = Principal(MERCHANT, merchant["id"], "active")
        shop = container.shops.create(owner, {"name": f"Bench shop {i}", "category": "bakery", "lat": lat, "lon": lon})
        owners.append((owner, shop["id"]))
    rows = resident_rows(shops, residents, "bench", container.clock() - timedelta(days=1))
    with container.db.write() as s:
        for start in range(0, len(rows), 5000):
            s.execute(insert(Subscriber), rows[start : start + 5000])
    return owners


def _dispatcher(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "workers.dispatcher"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=open(log, "ab"),
    )


def _run_dispatchers(args, url: str, container, owners, sink_port: int, tmp: Path) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DEALSVC_DATABASE_URL": url,
        "DEALSVC_WORKERS": "external",
        "DEALSVC_AUTO_MIGRATE": "0",
        "DEALSVC_ADMIN_TOKEN": "bench-operator-token-0123456789abcdef",
        "DEALSVC_GEOCODER": "none",
        "DEALSVC_FCM_ENDPOINT": f"http://127.0.0.1:{sink_port}",
        "DEALSVC_FCM_PROJECT_ID": PROJECT,
        "DEALSVC_LOG_LEVEL": "WARNING",
    }
    procs = [_dispatcher(env, tmp / f"dispatcher-{i}.log") for i in range(args.dispatchers)]
    try:
        time.sleep(args.warmup)  # started and idle, as before a real rush: the index is built
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"a dispatcher exited: see {tmp}")
        expires = container.clock() + timedelta(hours=2)
        created: dict[str, float] = {}
        for owner, shop_id in owners:
            offer = container.offers.create(
                owner,
                {"shop_id": shop_id, "title": "Pane di ieri", "category": "bakery", "original_price_cents": 400,
                 "discount_pct": 50, "quantity": 20, "expires_at": expires},
            )
            created[offer["id"]] = time.time()
        expected = args.residents
        deadline = time.monotonic() + args.timeout
        while True:
            counts = _sink_counts(sink_port)
            if counts["accepted"] >= expected:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {counts['accepted']:,} of {expected:,} pushes arrived in {args.timeout} s")
            for proc in procs:
                if proc.poll() is not None:
                    raise SystemExit(f"a dispatcher exited: see {tmp}")
            time.sleep(0.05)
        peaks = [_peak_rss_mb(p.pid) for p in procs]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    per_key = counts["per_key"]
    to_last = sorted(per_key[f"offer-{oid}"][2] - at for oid, at in created.items())
    first = min(created.values())
    with container.db.read() as s:
        statuses = dict(s.execute(select(Notification.status, func.count()).group_by(Notification.status)).all())
    return {
        "pushes": counts["accepted"],
        "seconds": counts["last_at"] - first,
        "p50": statistics.median(to_last),
        "p99": to_last[max(0, int(len(to_last) * 0.99 + 0.5) - 1)],
        "peaks": peaks,
        "statuses": statuses,
    }


def _plain_loop(sink_port: int, residents: int) -> None:
    """The obvious alternative, run in its own process (so its memory is its own): firebase-admin
    as the documentation shows it, send_each_for_multicast in chunks of 500."""
    import firebase_admin
    import google.auth.credentials
    from firebase_admin import credentials, messaging

    class Anonymous(credentials.Base):
        def get_credential(self):
            return google.auth.credentials.AnonymousCredentials()

    app = firebase_admin.initialize_app(Anonymous(), {"projectId": PROJECT})
    # The one thing the plain loop cannot do through public API: aim at the local endpoint.
    messaging._get_messaging_service(app)._fcm_url = (
        f"http://127.0.0.1:{sink_port}/v1/projects/{PROJECT}/messages:send"
    )
    tokens = [f"bench-token-{i:07d}" for i in range(residents)]
    started = time.time()
    ok = 0
    for start in range(0, len(tokens), 500):
        batch = messaging.send_each_for_multicast(
            messaging.MulticastMessage(
                tokens=tokens[start : start + 500],
                data={"type": "offer", "offer_id": "plain"},
                notification=messaging.Notification(title="Pane di ieri -50%", body="Bench shop, 400 m"),
                android=messaging.AndroidConfig(ttl=timedelta(hours=2), collapse_key="offer-plain"),
            ),
            app=app,
        )
        ok += batch.success_count
    elapsed = time.time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"pushes": ok, "seconds": elapsed, "peak_mb": peak}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--offers", type=int, default=50)
    parser.add_argument("--dispatchers", type=int, default=2)
    parser.add_argument("--db", default=os.environ.get("DEALSVC_TEST_DATABASE_URL", DEFAULT_PG), help="a PostgreSQL URL")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds the dispatchers idle before the rush")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--plain-loop", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_loop:
        _plain_loop(args.plain_loop, args.residents)
        return 0

    schema = "bench_" + secrets.token_hex(4)
    admin = create_engine(args.db)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.db else "?"
    url = f"{args.db}{sep}options={quote(f'-csearch_path={schema}')}"
    sink_port = _free_port()
    sink = subprocess.Popen([sys.executable, "-m", "bench.fcm_sink", "--port", str(sink_port)], cwd=ROOT)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _wait_port(sink_port)
            container = bootstrap(
                Settings(database_url=url, admin_token="bench", var_dir=Path(tmp), geocoder="none",
                         fcm_endpoint=f"http://127.0.0.1:{sink_port}", fcm_project_id=PROJECT),
                migrate_schema=True,
            )
            try:
                print(f"{args.residents:,} residents, {args.offers} offers posted at once, "
                      f"{args.dispatchers} dispatcher processes, PostgreSQL {args.db.split('@')[-1]}, "
                      f"{os.cpu_count()} cores\n")
                started = time.monotonic()
                owners = _seed(container, args.residents, _shops(args.offers))
                print(f"seeded in {time.monotonic() - started:.1f} s")
                ours = _run_dispatchers(args, url, container, owners, sink_port, Path(tmp))
            finally:
                container.close()
            baseline = _sink_counts(sink_port)["accepted"]
            out = subprocess.run(
                [sys.executable, "-m", "bench.fanout", "--plain-loop", str(sink_port), "--residents", str(args.residents)],
                cwd=ROOT, capture_output=True, text=True, check=True,
            )
            plain = json.loads(out.stdout.strip().splitlines()[-1])
            assert _sink_counts(sink_port)["accepted"] - baseline == plain["pushes"]
    finally:
        sink.terminate()
        sink.wait(10)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    ours_rate = ours["pushes"] / ours["seconds"]
    plain_rate = plain["pushes"] / plain["seconds"]
    print(f"\n{'':<46}{'pushes':>9}{'pushes/s':>10}{'p50':>9}{'p99':>9}{'peak MB':>10}")
    print(
        f"{'dealsvc: %d dispatchers (outbox, caps, rules)' % args.dispatchers:<46}{ours['pushes']:>9,}"
        f"{ours_rate:>10,.0f}{ours['p50']:>8.1f}s{ours['p99']:>8.1f}s"
        f"{' + '.join(f'{p:.0f}' for p in ours['peaks']):>10}"
    )
    print(
        f"{'plain send_each_for_multicast loop (500)':<46}{plain['pushes']:>9,}{plain_rate:>10,.0f}"
        f"{'':>9}{'':>9}{plain['peak_mb']:>10.0f}"
    )
    print(f"\nnotification rows: {ours['statuses']}")
    print(f"speed-up over the plain loop: {ours_rate / plain_rate:.1f}x (target 3x); "
          f"{ours_rate:,.0f} pushes/s (target 5,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
