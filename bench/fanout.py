"""100,000 pushes through the dispatchers, next to a plain firebase-admin loop.

    .venv/bin/python -m bench.fanout [--residents 100000] [--offers 50] [--dispatchers 1,2,4] [--db URL]
        [--no-plain-loop]

A closing-time rush on PostgreSQL: `--offers` shops post at the same moment, each reaching
residents/offers people around it. `--dispatchers` processes (`python -m workers.dispatcher`,
exactly as in production) send through firebase-admin to bench/fcm_sink.py, an
FCM-v1-compatible endpoint on 127.0.0.1 that accepts every message at once. Printed: pushes per
second (from the first offer's creation to the last push accepted), p50/p99 of the time from an
offer's creation to its last push accepted, the dispatchers' peak memory, and the CPU a push
costs the dispatchers, PostgreSQL (its backends serving the benchmark's own database, read from
/proc: the shared background writers are left out) and the sink; each count of dispatchers in
`--dispatchers` on a fresh database of its own. Then, on the same
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

from geographiclib.geodesic import Geodesic
from sqlalchemy import create_engine, func, insert, make_url, select, text

from config import Settings
from config.testing import DEFAULT_PG
from dealsvc.adapters.db.models import Notification, Subscriber
from dealsvc.bootstrap import bootstrap
from dealsvc.services.auth import MERCHANT, Principal

# The smallest run that still goes through every step (tests/test_benchmarks.py); "{pg}" is
# the test PostgreSQL.
TINY = ["--db", "{pg}", "--residents", "200", "--offers", "2", "--dispatchers", "1", "--warmup", "0.5", "--timeout", "60"]
TICK_S = 1 / os.sysconf("SC_CLK_TCK")

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


def _cpu_s(pid: int) -> float:
    """User plus system CPU of a process (all its threads) so far; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_S


class BackendCpu:
    """The CPU of the PostgreSQL backends serving one database (on this machine), summed over
    every backend seen while sampling: a backend's title names its database."""

    def __init__(self, database: str):
        self.needle = f" {database} "
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.started = False

    def sample(self) -> None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                    title = cmd.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres:") and self.needle in title:
                pid = int(entry)
                used = _cpu_s(pid)
                # A backend already there counts from now; one started since, from its start.
                self.first.setdefault(pid, 0.0 if self.started else used)
                self.last[pid] = max(used, self.last.get(pid, 0.0))
        self.started = True

    def used_s(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


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
        rows.append(
            dict(
                id=f"sub_{name}{i:07d}", secret_hash=f"{name}{i:060d}"[-64:], fcm_token=f"{name}-token-{i:07d}",
                lat=spot["lat2"], lon=spot["lon2"], radius_m=radius, categories=[], timezone="Europe/Rome",
                active=True,
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


def url_database(url: str) -> str:
    return make_url(url).database


def _run_dispatchers(args, dispatchers: int, url: str, container, owners, sink_port: int, sink_pid: int,
                     tmp: Path) -> dict:
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
    procs = [_dispatcher(env, tmp / f"dispatcher-{i}.log") for i in range(dispatchers)]
    try:
        time.sleep(args.warmup)  # started and idle, as before a real rush: the index is built
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"a dispatcher exited: see {tmp}")
        before = _sink_counts(sink_port)["accepted"]
        backends = BackendCpu(url_database(url))
        backends.sample()
        ours_before = [_cpu_s(p.pid) for p in procs]
        sink_before = _cpu_s(sink_pid)
        expires = container.clock() + timedelta(hours=2)
        created: dict[str, float] = {}
        for owner, shop_id in owners:
            offer = container.offers.create(
                owner,
                {"shop_id": shop_id, "title": "Pane di ieri", "category": "bakery", "original_price_cents": 400,
                 "discount_pct": 50, "quantity": 20, "expires_at": expires},
            )
            created[offer["id"]] = time.time()
        expected = _sink_counts(sink_port)["accepted"] + args.residents  # the sink counts every run
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
            backends.sample()
            time.sleep(0.05)
        backends.sample()
        cpu = {
            "dispatchers": sum(_cpu_s(p.pid) for p in procs) - sum(ours_before),
            "postgres": backends.used_s(),
            "sink": _cpu_s(sink_pid) - sink_before,
        }
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
        "pushes": counts["accepted"] - before,
        "seconds": counts["last_at"] - first,
        "p50": statistics.median(to_last),
        "p99": to_last[max(0, int(len(to_last) * 0.99 + 0.5) - 1)],
        "peaks": peaks,
        "statuses": statuses,
        "cpu": cpu,
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


def _fresh_database(admin, base: str) -> str:
    name = "bench_" + secrets.token_hex(4)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin, url: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url_database(url)}" WITH (FORCE)'))


def _one_count(args, dispatchers: int, admin, sink_port: int, sink_pid: int) -> dict:
    """Seed a fresh database, run `dispatchers` processes through the rush, drop it."""
    url = _fresh_database(admin, args.db)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            container = bootstrap(
                Settings(database_url=url, admin_token="bench", var_dir=Path(tmp), geocoder="none",
                         fcm_endpoint=f"http://127.0.0.1:{sink_port}", fcm_project_id=PROJECT),
                migrate_schema=True,
            )
            try:
                started = time.monotonic()
                owners = _seed(container, args.residents, _shops(args.offers))
                print(f"{dispatchers} dispatcher(s): seeded in {time.monotonic() - started:.1f} s", flush=True)
                ours = _run_dispatchers(args, dispatchers, url, container, owners, sink_port, sink_pid, Path(tmp))
            finally:
                container.close()
    finally:
        _drop_database(admin, url)
    return ours


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--offers", type=int, default=50)
    parser.add_argument("--dispatchers", default="2", help="dispatcher processes; several counts: 1,2,4")
    parser.add_argument("--db", default=os.environ.get("DEALSVC_TEST_DATABASE_URL", DEFAULT_PG), help="a PostgreSQL URL")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds the dispatchers idle before the rush")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--no-plain-loop", action="store_true", help="leave out the plain firebase-admin loop")
    parser.add_argument("--plain-loop", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_loop:
        _plain_loop(args.plain_loop, args.residents)
        return 0
    counts = [int(n) for n in str(args.dispatchers).split(",")]

    # CREATE DATABASE: a database of its own per run, so its backends' CPU is told apart.
    admin = create_engine(args.db, isolation_level="AUTOCOMMIT")
    sink_port = _free_port()
    sink = subprocess.Popen([sys.executable, "-m", "bench.fcm_sink", "--port", str(sink_port)], cwd=ROOT)
    results: dict[int, dict] = {}
    plain = None
    try:
        _wait_port(sink_port)
        print(f"{args.residents:,} residents, {args.offers} offers posted at once, "
              f"{args.dispatchers} dispatcher processes, PostgreSQL {args.db.split('@')[-1]}, "
              f"{os.cpu_count()} cores\n")
        for n in counts:
            results[n] = _one_count(args, n, admin, sink_port, sink.pid)
        if not args.no_plain_loop:
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
        admin.dispose()

    print(f"\n{'':<46}{'pushes':>9}{'pushes/s':>10}{'p50':>9}{'p99':>9}{'peak MB':>24}"
          f"{'CPU µs/push: dispatchers':>26}{'PostgreSQL':>12}{'sink':>7}")
    for n, ours in results.items():
        rate = ours["pushes"] / ours["seconds"]
        per = {k: v * 1e6 / max(1, ours["pushes"]) for k, v in ours["cpu"].items()}
        print(
            f"{'dealsvc: %d dispatchers (outbox, caps, rules)' % n:<46}{ours['pushes']:>9,}"
            f"{rate:>10,.0f}{ours['p50']:>8.1f}s{ours['p99']:>8.1f}s"
            f"{' + '.join(f'{p:.0f}' for p in ours['peaks']):>24}"
            f"{per['dispatchers']:>26,.0f}{per['postgres']:>12,.0f}{per['sink']:>7,.0f}"
        )
    best = max(ours["pushes"] / ours["seconds"] for ours in results.values())
    if plain is not None:
        plain_rate = plain["pushes"] / plain["seconds"]
        print(
            f"{'plain send_each_for_multicast loop (500)':<46}{plain['pushes']:>9,}{plain_rate:>10,.0f}"
            f"{'':>9}{'':>9}{plain['peak_mb']:>24.0f}"
        )
    for n, ours in results.items():
        print(f"notification rows ({n} dispatchers): {ours['statuses']}")
    pg = min(ours["cpu"]["postgres"] * 1e6 / max(1, ours["pushes"]) for ours in results.values())
    if plain is not None:
        print(f"speed-up over the plain loop: {best / plain_rate:.1f}x (target 8x)")
    print(f"{best:,.0f} pushes/s (target 10,000); PostgreSQL {pg:,.0f} µs of CPU per push (target 60)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
