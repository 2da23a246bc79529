"""100,000 pushes through the dispatchers, next to the previous gateway and a plain firebase-admin loop.

    .venv/bin/python -m bench.fanout [--residents 100000] [--offers 50] [--dispatchers 1,2,4] [--db URL]
        [--delays 0,30] [--transports curl,requests] [--no-sqlite] [--no-plain-loop]

A closing-time rush: `--offers` shops post at the same moment, each reaching residents/offers
people around it. `--dispatchers` processes (`python -m workers.dispatcher`, exactly as in
production) send through firebase-admin to the FCM stand-in: Debian's nginx over TLS + HTTP/2,
answering every message at once and, in a second round, after 30 ms (`--delays`), as FCM does
from a data centre. For each delay, on a fresh database per run:
- the curl transport (the default) with each count of `--dispatchers`, on PostgreSQL;
- the previous gateway (`DEALSVC_FCM_TRANSPORT=requests`: firebase-admin's `messaging.send` on
  threads) with the largest count;
- the embedded default's engine, SQLite, with one dispatcher (first delay only);
- the obvious alternative: a plain loop of `messaging.send_each_for_multicast` in chunks of 500
  over the same tokens.
Printed: pushes per second (from the first offer's creation to the last push accepted), p50/p99
of the time from an offer's creation to its last push accepted and recorded, the dispatchers'
peak memory, and the CPU a push costs the dispatchers, PostgreSQL (its backends serving the
run's own database, read from /proc: the shared background writers are left out) and nginx.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from geographiclib.geodesic import Geodesic
from sqlalchemy import create_engine, func, insert, make_url, select, text

from config import Settings
from bench import NginxFcm, cpu_s, peak_rss_mb
from config.testing import DEFAULT_PG
from dealsvc.adapters.db.models import Notification, Subscriber
from dealsvc.bootstrap import bootstrap
from dealsvc.services.auth import MERCHANT, Principal

# The smallest run that still goes through every step (tests/e2e/test_benchmarks.py); "{pg}" is
# the test PostgreSQL.
TINY = ["--db", "{pg}", "--residents", "200", "--offers", "2", "--dispatchers", "1", "--warmup", "0.5",
        "--timeout", "60", "--delays", "0,30"]

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "bench-fanout"
CENTRE = (45.4642, 9.1900)
GRID_STEP_DEG = 0.05  # about 5 km between shops: each resident is in reach of one shop only


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
                used = cpu_s(pid)
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


READY = b"dispatcher ready"


def _wait_ready(procs: list[subprocess.Popen], logs: list[Path], timeout_s: float, tmp: Path) -> None:
    """Until every dispatcher has logged that it is ready (its index built, its lanes started)."""
    deadline = time.monotonic() + timeout_s
    waiting = dict(zip(logs, procs))
    while waiting:
        for log, proc in list(waiting.items()):
            if proc.poll() is not None:
                raise SystemExit(f"a dispatcher exited: see {tmp}")
            if log.exists() and READY in log.read_bytes():
                del waiting[log]
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(waiting)} dispatcher(s) not ready after {timeout_s} s: see {tmp}")
        time.sleep(0.1)


def url_database(url: str) -> str:
    return make_url(url).database


def _run_dispatchers(args, dispatchers: int, transport: str, url: str, container, owners, sink: NginxFcm,
                     tmp: Path) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DEALSVC_DATABASE_URL": url,
        "DEALSVC_WORKERS": "external",
        "DEALSVC_AUTO_MIGRATE": "0",
        "DEALSVC_ADMIN_TOKEN": "bench-operator-token-0123456789abcdef",
        "DEALSVC_GEOCODER": "none",
        "DEALSVC_FCM_ENDPOINT": sink.endpoint,
        "DEALSVC_FCM_PROJECT_ID": PROJECT,
        "DEALSVC_FCM_TRANSPORT": transport,
        # INFO for the line each dispatcher writes once ready (its index built); none per batch.
        "DEALSVC_LOG_LEVEL": "INFO",
        # Both transports trust the stand-in's certificate as requests does.
        "REQUESTS_CA_BUNDLE": str(sink.ca),
    }
    procs = [_dispatcher(env, tmp / f"dispatcher-{i}.log") for i in range(dispatchers)]
    sqlite = make_url(url).get_backend_name() == "sqlite"
    try:
        # Started and idle, as before a real rush: every process has built its index and says
        # so, then idles `--warmup` seconds. (A fixed sleep let four processes starting on two
        # busy cores build their indexes, and even import their code, inside the measured rush.)
        _wait_ready(procs, [tmp / f"dispatcher-{i}.log" for i in range(dispatchers)], args.timeout, tmp)
        time.sleep(args.warmup)
        before = sink.accepted()
        backends = None if sqlite else BackendCpu(url_database(url))
        counters = None if sqlite else _pg_counters(container)
        if backends:
            backends.sample()
        ours_before = [cpu_s(p.pid) for p in procs]
        sink_before = sink.cpu_s()
        expires = container.clock() + timedelta(hours=2)
        created: dict[str, float] = {}
        for owner, shop_id in owners:
            offer = container.offers.create(
                owner,
                {"shop_id": shop_id, "title": "Pane di ieri", "category": "bakery", "original_price_cents": 400,
                 "discount_pct": 50, "quantity": 20, "expires_at": expires},
            )
            created[offer["id"]] = time.time()
        expected = before + args.residents
        deadline = time.monotonic() + args.timeout
        while (accepted := sink.accepted()) < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {accepted - before:,} of {args.residents:,} pushes arrived in {args.timeout} s")
            for proc in procs:
                if proc.poll() is not None:
                    raise SystemExit(f"a dispatcher exited: see {tmp}")
            if backends:
                backends.sample()
            time.sleep(0.05)
        if backends:
            backends.sample()
        cpu = {
            "dispatchers": sum(cpu_s(p.pid) for p in procs) - sum(ours_before),
            "postgres": backends.used_s() if backends else None,
            "sink": sink.cpu_s() - sink_before,
        }
        peaks = [peak_rss_mb(p.pid) for p in procs]
        if counters is not None:
            time.sleep(1.2)  # each backend reports its counters at most once a second
            after = _pg_counters(container)
            counters = {k: after[k] - counters[k] for k in after}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    # The last push of each offer, as the dispatchers recorded it once nginx had accepted it.
    with container.db.read() as s:
        last = dict(s.execute(select(Notification.offer_id, func.max(Notification.sent_at))
                              .group_by(Notification.offer_id)).all())
        statuses = dict(s.execute(select(Notification.status, func.count()).group_by(Notification.status)).all())
    to_last = sorted(last[oid].timestamp() - at for oid, at in created.items())
    return {
        "pushes": sink.accepted() - before,
        "seconds": max(last[oid].timestamp() for oid in created) - min(created.values()),
        "p50": statistics.median(to_last),
        "p99": to_last[max(0, int(len(to_last) * 0.99 + 0.5) - 1)],
        "peaks": peaks,
        "statuses": statuses,
        "cpu": cpu,
        "counters": counters,
    }


def _pg_counters(container) -> dict[str, int]:
    """The run's database's transactions, and its outbox tables' row writes (HOT: updates that
    wrote no index entry)."""
    with container.db.read() as s:
        counters = dict(s.execute(text(
            "SELECT xact_commit + xact_rollback AS transactions, tup_returned AS \"rows read\" FROM pg_stat_database "
            "WHERE datname = current_database()")).one()._mapping)
        for table, *values in s.execute(text(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, seq_scan, seq_tup_read "
                "FROM pg_stat_user_tables")):
            counters.update({f"{table} {k}": v or 0 for k, v in zip(
                ("inserted", "updated", "HOT", "deleted", "seq scans", "seq rows"), values)})
    return counters


def _plain_loop(endpoint: str, residents: int) -> None:
    """The obvious alternative, run in its own process (so its memory is its own): firebase-admin
    as the documentation shows it, send_each_for_multicast in chunks of 500 (REQUESTS_CA_BUNDLE
    trusts the stand-in)."""
    import firebase_admin
    import google.auth.credentials
    from firebase_admin import credentials, messaging

    class Anonymous(credentials.Base):
        def get_credential(self):
            return google.auth.credentials.AnonymousCredentials()

    app = firebase_admin.initialize_app(Anonymous(), {"projectId": PROJECT})
    # The one thing the plain loop cannot do through public API: aim at the local endpoint.
    messaging._get_messaging_service(app)._fcm_url = f"{endpoint}/v1/projects/{PROJECT}/messages:send"
    tokens = [f"bench-token-{i:07d}" for i in range(residents)]
    started, cpu = time.time(), time.process_time()
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
    elapsed, cpu = time.time() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"pushes": ok, "seconds": elapsed, "cpu_s": cpu, "peak_mb": peak}))


def _fresh_database(admin, base: str) -> str:
    name = "bench_" + secrets.token_hex(4)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin, url: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url_database(url)}" WITH (FORCE)'))


def _one_run(args, dispatchers: int, transport: str, engine: str, admin, sink: NginxFcm) -> dict:
    """Seed a fresh database, run `dispatchers` processes through the rush, drop it."""
    with tempfile.TemporaryDirectory() as tmp:
        url = _fresh_database(admin, args.db) if engine == "postgresql" else f"sqlite:///{tmp}/bench.db"
        try:
            container = bootstrap(
                Settings(database_url=url, admin_token="bench", var_dir=Path(tmp), geocoder="none",
                         fcm_endpoint=sink.endpoint, fcm_project_id=PROJECT),
                migrate_schema=True,
            )
            try:
                started = time.monotonic()
                owners = _seed(container, args.residents, _shops(args.offers))
                print(f"  {transport}, {dispatchers} dispatcher(s), {engine}: seeded in "
                      f"{time.monotonic() - started:.1f} s", flush=True)
                return _run_dispatchers(args, dispatchers, transport, url, container, owners, sink, Path(tmp))
            finally:
                container.close()
        finally:
            if engine == "postgresql":
                _drop_database(admin, url)


def _plain(args, sink: NginxFcm) -> dict:
    before, cpu = sink.accepted(), sink.cpu_s()
    out = subprocess.run(
        [sys.executable, "-m", "bench.fanout", "--plain-loop", sink.endpoint, "--residents", str(args.residents)],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "REQUESTS_CA_BUNDLE": str(sink.ca)},
    )
    plain = json.loads(out.stdout.strip().splitlines()[-1])
    time.sleep(0.2)  # nginx's log is flushed every 100 ms
    assert sink.accepted() - before == plain["pushes"] == args.residents, (sink.accepted() - before, plain)
    plain["sink_s"] = sink.cpu_s() - cpu
    return plain


def _print_round(delay_ms: int, runs: list[tuple[str, dict]], plain: dict | None) -> None:
    print(f"\nFCM stand-in answering {'at once' if not delay_ms else f'after {delay_ms} ms'} "
          f"(nginx, TLS + HTTP/2)")
    print(f"  {'':<44}{'pushes':>9}{'pushes/s':>10}{'p50':>8}{'p99':>8}{'peak MB':>26}"
          f"{'CPU µs/push: dispatchers':>26}{'PostgreSQL':>12}{'nginx':>7}")
    for label, run in runs:
        per = {k: (v * 1e6 / max(1, run["pushes"]) if v is not None else None) for k, v in run["cpu"].items()}
        pg = f"{per['postgres']:,.0f}" if per["postgres"] is not None else "-"
        print(f"  {label:<44}{run['pushes']:>9,}{run['pushes'] / run['seconds']:>10,.0f}{run['p50']:>7.1f}s"
              f"{run['p99']:>7.1f}s{' + '.join(f'{p:.0f}' for p in run['peaks']):>26}"
              f"{per['dispatchers']:>26,.0f}{pg:>12}{per['sink']:>7,.0f}")
    if plain is not None:
        print(f"  {'plain send_each_for_multicast loop (500)':<44}{plain['pushes']:>9,}"
              f"{plain['pushes'] / plain['seconds']:>10,.0f}{'':>16}{plain['peak_mb']:>26.0f}"
              f"{plain['cpu_s'] * 1e6 / plain['pushes']:>26,.0f}{'-':>12}{plain['sink_s'] * 1e6 / plain['pushes']:>7,.0f}")
    for label, run in runs:
        print(f"  notification rows ({label}): {run['statuses']}")
        if run.get("counters"):
            c = run["counters"]
            print(f"    PostgreSQL: {c['transactions'] * 1000 / max(1, run['pushes']):,.0f} transactions per 1,000 pushes; "
                  + "; ".join(f"{t}: {c.get(t + ' inserted', 0):,} inserted, {c.get(t + ' updated', 0):,} updated "
                              f"({c.get(t + ' HOT', 0):,} HOT), {c.get(t + ' deleted', 0):,} deleted"
                              for t in ("notifications", "push_batches", "push_quota"))
                  + f"; {c['rows read'] * 1000 / max(1, run['pushes']):,.0f} rows read per 1,000 pushes, in table scans: "
                  + (", ".join(f"{k[:-9]} {v:,}" for k, v in sorted(c.items()) if k.endswith(" seq rows") and v) or "none"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--offers", type=int, default=50)
    parser.add_argument("--dispatchers", default="2", help="dispatcher processes; several counts: 1,2,4")
    parser.add_argument("--db", default=os.environ.get("DEALSVC_TEST_DATABASE_URL", DEFAULT_PG), help="a PostgreSQL URL")
    parser.add_argument("--delays", default="0,30", help="the FCM stand-in's answer delays in ms")
    parser.add_argument("--transports", default="curl,requests",
                        help="curl runs each count of --dispatchers; requests (the previous gateway) the largest")
    parser.add_argument("--no-sqlite", action="store_true", help="leave out the SQLite run")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds the dispatchers idle before the rush, once each is ready")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--no-plain-loop", action="store_true", help="leave out the plain firebase-admin loop")
    parser.add_argument("--plain-loop", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_loop:
        _plain_loop(args.plain_loop, args.residents)
        return 0
    counts = [int(n) for n in str(args.dispatchers).split(",")]
    delays = [int(d) for d in str(args.delays).split(",")]
    transports = args.transports.split(",")

    # CREATE DATABASE: a database of its own per run, so its backends' CPU is told apart.
    admin = create_engine(args.db, isolation_level="AUTOCOMMIT")
    print(f"{args.residents:,} residents, {args.offers} offers posted at once, PostgreSQL "
          f"{args.db.split('@')[-1]}, {os.cpu_count()} cores")
    summary: dict[int, dict] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for delay in delays:
                sink = NginxFcm(Path(tmp) / f"nginx-{delay}", PROJECT, delay_ms=delay)
                try:
                    print(f"\nFCM stand-in answering after {delay} ms:", flush=True)
                    runs: list[tuple[str, dict]] = []
                    if "curl" in transports:
                        for n in counts:
                            runs.append((f"dealsvc: curl, {n} dispatcher(s)", _one_run(args, n, "curl", "postgresql", admin, sink)))
                    if "requests" in transports:
                        n = max(counts)
                        runs.append((f"previous gateway: requests, {n} dispatcher(s)",
                                     _one_run(args, n, "requests", "postgresql", admin, sink)))
                    if not args.no_sqlite and delay == delays[0]:
                        runs.append(("embedded default's SQLite: curl, 1 dispatcher", _one_run(args, 1, "curl", "sqlite", admin, sink)))
                    plain = None if args.no_plain_loop else _plain(args, sink)
                finally:
                    sink.stop()
                _print_round(delay, runs, plain)
                curl = [run for label, run in runs if label.startswith("dealsvc: curl")]
                if curl:
                    best = max(curl, key=lambda run: run["pushes"] / run["seconds"])
                    summary[delay] = {
                        "rate": best["pushes"] / best["seconds"], "p99": best["p99"],
                        "pg": min(run["cpu"]["postgres"] * 1e6 / run["pushes"] for run in curl),
                        "plain": plain["pushes"] / plain["seconds"] if plain else None,
                    }
    finally:
        admin.dispose()

    print()
    for delay, fig in summary.items():
        target = 10_000 if not delay else 8_000
        vs = f", {fig['rate'] / fig['plain']:.1f}x the plain loop (target 8x)" if fig["plain"] else ""
        print(f"FCM after {delay} ms: {fig['rate']:,.0f} pushes/s (target {target:,}){vs}, p99 {fig['p99']:.1f} s "
              f"(target 15), PostgreSQL {fig['pg']:,.0f} µs of CPU per push (target 60)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
