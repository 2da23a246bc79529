"""GET /api/v1/deals and POST /api/v1/offers under load: gunicorn with 4 workers on PostgreSQL,
100,000 residents and 5,000 live offers in 1,500 shops around Milan, wrk and an open-loop client.

    .venv/bin/python -m bench.api [--pg URL] [--duration 20] [--rate 500] [--also-rates 400,300] [--profile]

It creates a fresh database (`dealsvc_bench_api`, dropped at the end), seeds it with COPY, then
for each way of answering GET /api/v1/deals — one SQL query on a bounding box, the way it was
(DEALSVC_DEALS_LOOKUP=box), and the in-memory shop index (`index`) — starts gunicorn as
deploy/gunicorn.conf.py does (4 workers x 4 threads; DEALSVC_WORKERS=external; pushes pointed at
a closed port, though nothing pushes), checks that both give the same answers, and measures:

- the most it serves: wrk, 2 threads, 16 connections, closed loop;
- fixed rates (500 requests/s, the target, then 400 and 300): Debian's wrk 4.1 has no -R, so an open-loop
  client here sends on a fixed schedule and times each request from the moment it was due, so
  a slow answer delays nobody's clock (no coordinated omission);
- the CPU time each answered request cost gunicorn and the PostgreSQL backends serving it
  (read from /proc: other work on the machine does not count in it, unlike in requests/s).

Then POST /api/v1/offers with wrk (merchants' bearer keys, random shops of theirs).
wrk, the client, gunicorn and PostgreSQL all share the machine's cores.
`--profile` profiles GET /api/v1/deals in this process instead (Flask test client, cProfile).
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from dealsvc.domain.categories import CATEGORIES
from dealsvc.domain.credentials import MERCHANT_PREFIX, hash_secret, new_secret

# The smallest run that still goes through every step (tests/e2e/test_benchmarks.py); "{pg}" is
# the test PostgreSQL.
TINY = ["--pg", "{pg}", "--shops", "20", "--merchants", "10", "--offers", "50", "--ended-offers", "50",
        "--subscribers", "200", "--duration", "1", "--rate", "20", "--also-rates", "", "--rate-duration", "1",
        "--connections", "2", "--workers", "1"]

ROOT = Path(__file__).resolve().parent.parent
MILAN = (45.4642, 9.1900)
DB_NAME = "dealsvc_bench_api"
ADMIN_TOKEN = "bench-operator-token-0123456789abcdef"
WORKERS, THREADS = 4, 4
# Where the queries come from: anywhere in the city, 6 km either way of the Duomo.
QUERY_HALF_LAT, QUERY_HALF_LON = 0.054, 0.077
QUERY_CATEGORIES = ("bakery", "pastry", "dairy", "produce")
CATEGORY_SHARE = 0.2  # queries that ask for one category


# --- the database ------------------------------------------------------------------------


def database_urls(base: str) -> tuple[str, str]:
    """(the server's URL, the bench database's URL)."""
    parts = urlsplit(base)
    return base, urlunsplit(parts._replace(path="/" + DB_NAME))


def recreate_database(admin_url: str, url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    from sqlalchemy import create_engine

    from dealsvc.adapters.db import migrate
    from dealsvc.adapters.db.session import normalize_url

    engine = create_engine(normalize_url(url))
    migrate.upgrade(engine)
    engine.dispose()


def drop_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def _copy(conn, table: str, columns: tuple[str, ...], rows) -> None:
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in row))
        buf.write("\n")
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(buf.getvalue())


def seed(url: str, *, shops: int, merchants: int, offers: int, ended: int, subscribers: int, seed: int = 1):
    """The city, with COPY. Shops have been there for weeks or months; offers are live for 2 to
    70 hours more."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    iso = lambda t: t.isoformat(sep=" ")  # noqa: E731 - naive UTC, as the columns store it
    keys = [new_secret(MERCHANT_PREFIX) for _ in range(merchants)]
    merchant_ids = [f"mer_bench{n:06d}" for n in range(merchants)]
    shop_rows, owner = [], {}
    for n in range(shops):
        # Dense in the centre, thinning out (like bench/match.py's offers).
        lat, lon = MILAN[0] + rng.gauss(0, 0.04), MILAN[1] + rng.gauss(0, 0.05)
        shop_id = f"shp_bench{n:06d}"
        owner[shop_id] = n % merchants
        joined = iso(now - timedelta(days=rng.uniform(7, 400)))
        shop_rows.append((shop_id, merchant_ids[n % merchants], f"Shop {n}", rng.choice(CATEGORIES), f"Via Bench {n}, Milano", lat, lon, joined, joined))
    shop_ids = [r[0] for r in shop_rows]

    def offer_rows(count: int, live: bool):
        for n in range(count):
            quantity = rng.randint(1, 20)
            if live:
                status, left, expires = "active", rng.randint(1, quantity), now + timedelta(hours=rng.uniform(2, 70))
            else:
                status = rng.choice(["expired", "sold_out", "cancelled"])
                left, expires = (0 if status == "sold_out" else rng.randint(0, quantity)), now - timedelta(hours=rng.uniform(1, 24 * 60))
            created = iso(min(now, expires) - timedelta(hours=rng.uniform(1, 70)))
            price = rng.randint(150, 2500)
            yield (
                f"off_{'live' if live else 'gone'}{n:07d}", rng.choice(shop_ids), f"Surplus {n}", None,
                rng.choice(CATEGORIES), price, price // 2, 50.0, "EUR", quantity, left, iso(expires), status,
                None, created, created,
            )

    with psycopg.connect(url) as conn:
        _copy(conn, "merchants", ("id", "name", "email", "status", "api_key_hash", "created_at"),
              ((m, f"Merchant {n}", f"m{n}@bench.example", "active", hash_secret(keys[n]), iso(now))
               for n, m in enumerate(merchant_ids)))
        _copy(conn, "shops", ("id", "merchant_id", "name", "category", "address", "lat", "lon", "created_at", "updated_at"), shop_rows)
        columns = ("id", "shop_id", "title", "description", "category", "original_price_cents", "price_cents",
                   "discount_pct", "currency", "quantity", "quantity_left", "expires_at", "status", "image_url",
                   "created_at", "updated_at")
        _copy(conn, "offers", columns, offer_rows(offers, True))
        _copy(conn, "offers", columns, offer_rows(ended, False))

        def subscriber_rows():
            for n in range(subscribers):
                # A third in the city, the rest over the metropolitan area (bench/match.py).
                half = 6_000 if n % 3 == 0 else 30_000
                lat = MILAN[0] + rng.uniform(-1, 1) * half / 111_000
                lon = MILAN[1] + rng.uniform(-1, 1) * half / 111_000 / 0.7
                radius = rng.choice([500, 1000, 1000, 2000, 3000, 5000])
                at = iso(now - timedelta(days=rng.uniform(1, 300)))
                yield (f"sub_bench{n:07d}", hash_secret(f"bench-{n}"), f"bench-token-{n}", lat, lon, radius, "[]",
                       None, None, "Europe/Rome", None, "t", at, at, None)

        _copy(conn, "subscribers", ("id", "secret_hash", "fcm_token", "lat", "lon", "radius_m", "categories",
                                    "quiet_start", "quiet_end", "timezone", "max_per_day", "active", "created_at",
                                    "updated_at", "deleted_at"),
              subscriber_rows())
        conn.execute("ANALYZE")
    return [(keys[owner[s]], s) for s in shop_ids]


def query_paths(n: int, seed: int = 5) -> list[str]:
    """The queries of the open-loop client and of the agreement check (deals.lua draws the same way)."""
    rng = random.Random(seed)
    paths = []
    for _ in range(n):
        lat = MILAN[0] + rng.uniform(-1, 1) * QUERY_HALF_LAT
        lon = MILAN[1] + rng.uniform(-1, 1) * QUERY_HALF_LON
        path = f"/api/v1/deals?lat={lat:.6f}&lon={lon:.6f}&radius_m={rng.randint(500, 5000)}"
        if rng.random() < CATEGORY_SHARE:
            path += "&category=" + rng.choice(QUERY_CATEGORIES)
        paths.append(path)
    return paths


# --- the service --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(url: str, lookup: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DEALSVC_DATABASE_URL": url,
        "DEALSVC_ADMIN_TOKEN": ADMIN_TOKEN,
        "DEALSVC_WORKERS": "external",  # no dispatcher, no scheduler in the web processes
        # Nothing pushes (no dispatcher runs); should anything try, a closed port answers at once.
        "DEALSVC_FCM_ENDPOINT": "http://127.0.0.1:9",
        "DEALSVC_GEOCODER": "none",
        "DEALSVC_AUTO_MIGRATE": "0",
        "DEALSVC_LOG_LEVEL": "WARNING",
        "DEALSVC_DEALS_LOOKUP": lookup,
        "DEALSVC_PORT": str(port),
    }


class Service:
    def __init__(self, url: str, lookup: str, log_dir: Path, workers: int = WORKERS):
        self.port = free_port()
        self.workers = workers
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"gunicorn-{lookup}.log"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                # The shape of deploy/gunicorn.conf.py: 4 workers x 4 threads, keep-alive 5 s.
                [str(gunicorn), "-w", str(workers), "--threads", str(THREADS), "--keep-alive", "5",
                 "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "5", "--log-level", "info", "wsgi:app"],
                cwd=ROOT, env=service_env(url, lookup, self.port), stdout=out, stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        import requests

        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{self.log_path.read_text()}")
            try:
                ready = requests.get(self.base + "/readyz", timeout=2).status_code == 200
            except requests.RequestException:
                ready = False
            if ready and self.log_path.read_text().count("Booting worker") >= self.workers:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start:\n{self.log_path.read_text()}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def pids(self) -> list[int]:
        """gunicorn's master and its workers."""
        found = [self.proc.pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    found.append(int(entry))
        return found

    def tracebacks(self) -> int:
        return self.log_path.read_text(errors="replace").count("Traceback")


# --- load ---------------------------------------------------------------------------------

_DONE = r"""
done = function(summary, latency, requests)
  local s = summary
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"non_2xx": %d, "socket_errors": %d}\n',
    s.requests, s.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    s.errors.status, s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout))
end
"""

_THREAD_SEED = r"""
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
init = function(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end
"""


def deals_lua() -> str:
    cats = ", ".join(f'"{c}"' for c in QUERY_CATEGORIES)
    return _THREAD_SEED + f"""
local cats = {{{cats}}}
request = function()
  local lat = {MILAN[0]} + (math.random() * 2 - 1) * {QUERY_HALF_LAT}
  local lon = {MILAN[1]} + (math.random() * 2 - 1) * {QUERY_HALF_LON}
  local path = string.format("/api/v1/deals?lat=%.6f&lon=%.6f&radius_m=%d", lat, lon, math.random(500, 5000))
  if math.random() < {CATEGORY_SHARE} then path = path .. "&category=" .. cats[math.random(#cats)] end
  return wrk.format("GET", path)
end
""" + _DONE


def offers_lua(owners: list[tuple[str, str]]) -> str:
    pairs = ",\n".join(f'  {{"{key}", "{shop}"}}' for key, shop in owners)
    cats = ", ".join(f'"{c}"' for c in CATEGORIES)
    return _THREAD_SEED + f"""
local owners = {{
{pairs}
}}
local cats = {{{cats}}}
request = function()
  local pick = owners[math.random(#owners)]
  local body = string.format(
    '{{"shop_id": "%s", "title": "Pane di ieri", "category": "%s", "original_price_cents": %d, ' ..
    '"discount_pct": 50, "quantity": %d, "expires_at": "%s"}}',
    pick[2], cats[math.random(#cats)], math.random(100, 3000) * 2, math.random(1, 20),
    os.date("!%Y-%m-%dT%H:%M:%S+00:00", os.time() + 7200))
  return wrk.format("POST", "/api/v1/offers",
    {{["Authorization"] = "Bearer " .. pick[1], ["Content-Type"] = "application/json"}}, body)
end
""" + _DONE


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU time of each of these processes so far (other users' work on the
    machine does not count, unlike requests/s)."""
    times = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return times


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL processes serving the bench database (the server's pools)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (DB_NAME,))]


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy so far, all cores (/proc/stat)."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def measured(service: "Service", url: str, run) -> dict:
    """run() with the CPU time it cost gunicorn and PostgreSQL, per answered request, and how
    busy the machine's cores were meanwhile (with everything else running on it)."""
    before = cpu_seconds(service.pids()), cpu_seconds(backend_pids(url))
    busy, started = machine_busy_seconds(), time.monotonic()
    result = run()
    busy, elapsed = machine_busy_seconds() - busy, time.monotonic() - started
    after = cpu_seconds(service.pids()), cpu_seconds(backend_pids(url))
    spent = [sum(t - old.get(pid, 0.0) for pid, t in new.items()) for old, new in zip(before, after)]
    answered = max(result["requests"], 1)
    result["web_cpu_ms"], result["db_cpu_ms"] = (x * 1000 / answered for x in spent)
    cores = os.cpu_count() or 1
    result["machine_busy"] = busy / (elapsed * cores)
    result["other_busy"] = max(busy - sum(spent), 0.0) / (elapsed * cores)
    return result


def run_wrk(base: str, script: str, workdir: Path, duration: int, connections: int, threads: int = 2) -> dict:
    path = workdir / f"script-{abs(hash(script))}.lua"
    path.write_text(script)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(path), base],
        capture_output=True, text=True, check=True,
    ).stdout
    result = json.loads(re.search(r"WRK_RESULT (\{.*\})", out).group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


async def _open_loop(port: int, paths: list[str], rate: float, max_connections: int, grace_s: float) -> dict:
    """Sends paths[i] at start + i / rate whatever happened to earlier requests; latency is
    from that moment to the last byte of the answer. Requests still unanswered `grace_s` after
    the last was due count as infinitely slow."""
    loop = asyncio.get_running_loop()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(max_connections)
    latencies: list[float] = []
    latencies_end: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    async def exchange(conn, path: str) -> tuple[int, bool]:
        reader, writer = conn
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        status = int((await reader.readline()).split()[1])
        length, keep = 0, True
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
        await reader.readexactly(length)
        return status, keep

    async def one(path: str, due: float) -> None:
        nonlocal errors
        async with slots:
            reused = bool(idle)
            conn = idle.pop() if reused else await asyncio.open_connection("127.0.0.1", port)
            try:
                try:
                    status, keep = await exchange(conn, path)
                except (OSError, asyncio.IncompleteReadError, IndexError) if reused else ():
                    # gunicorn closed it after keep-alive seconds idle: as any HTTP client
                    # does, ask again on a new connection.
                    conn[1].close()
                    conn = await asyncio.open_connection("127.0.0.1", port)
                    status, keep = await exchange(conn, path)
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                errors += 1
                conn[1].close()
                return
            latencies_end.append(loop.time())
            latencies.append(latencies_end[-1] - due)
            statuses[status] = statuses.get(status, 0) + 1
            if keep:
                idle.append(conn)
            else:
                conn[1].close()

    start = loop.time() + 0.05
    tasks = []
    for i, path in enumerate(paths):
        due = start + i / rate
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(path, due)))
    done, pending = await asyncio.wait(tasks, timeout=grace_s)
    for task in pending:
        task.cancel()
    elapsed = (max(latencies_end) if latencies_end else loop.time()) - start
    for _, writer in idle:
        writer.close()
    answered = sorted(latencies)
    everything = answered + [float("inf")] * len(pending)
    pick = lambda q: everything[min(len(everything) - 1, int(q * len(everything)))] * 1e6  # noqa: E731
    return {
        "requests": len(answered), "rps": len(answered) / elapsed, "p50_us": pick(0.50), "p90_us": pick(0.90),
        "p99_us": pick(0.99), "max_us": everything[-1] * 1e6, "non_2xx": sum(v for k, v in statuses.items() if k >= 300),
        "socket_errors": errors, "unanswered": len(pending),
    }


def open_loop(port: int, paths: list[str], rate: float, max_connections: int = 64, grace_s: float = 10.0) -> dict:
    return asyncio.run(_open_loop(port, paths, rate, max_connections, grace_s))


def same_answers(index_base: str, box_base: str, paths: list[str]) -> tuple[int, int, float]:
    """(agreeing, asked, mean items per answer)."""
    import requests

    agree, items = 0, 0
    with requests.Session() as a, requests.Session() as b:
        for path in paths:
            x, y = a.get(index_base + path, timeout=10), b.get(box_base + path, timeout=10)
            agree += x.status_code == y.status_code == 200 and x.json() == y.json()
            items += len(x.json().get("items", []))
    return agree, len(paths), items / len(paths)


def fmt(r: dict) -> str:
    unanswered = f", unanswered {r['unanswered']}" if r.get("unanswered") else ""
    cpu = (f"\n  {'':28} CPU per request: gunicorn {r['web_cpu_ms']:.2f} ms, PostgreSQL {r['db_cpu_ms']:.2f} ms;"
           f" cores busy {r['machine_busy']:.0%}, {r['other_busy']:.0%} of them with other work (load generator included)"
           if "web_cpu_ms" in r else "")
    return (f"{r['rps']:8.0f} req/s  p50 {r['p50_us'] / 1000:7.1f} ms  p90 {r['p90_us'] / 1000:7.1f} ms  "
            f"p99 {r['p99_us'] / 1000:7.1f} ms  max {r['max_us'] / 1000:7.1f} ms  "
            f"({r['requests']:,} requests, non-2xx {r['non_2xx']}, socket errors {r['socket_errors']}{unanswered})"
            + cpu)


# --- in-process profile -------------------------------------------------------------------


def profile(url: str, lookup: str, n: int) -> None:
    import cProfile
    import pstats

    from config import Settings
    from dealsvc.app import create_app

    os.environ.update({k: v for k, v in service_env(url, lookup, 0).items() if k.startswith("DEALSVC_")})
    app = create_app(Settings.from_env(), start_workers=False)
    client = app.test_client()
    paths = query_paths(n)
    for path in paths[:50]:
        assert client.get(path).status_code == 200
    t = time.process_time()
    for path in paths:
        client.get(path)
    per = (time.process_time() - t) / n
    print(f"\n{lookup}: {per * 1e3:.2f} ms of CPU per request in this process (Flask test client, no HTTP),"
          " then the same requests under cProfile (CPU time):")
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    for path in paths:
        client.get(path)
    prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(45)


# --- main ---------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--shops", type=int, default=1_500)
    parser.add_argument("--merchants", type=int, default=1_000)
    parser.add_argument("--offers", type=int, default=5_000)
    parser.add_argument("--ended-offers", type=int, default=20_000)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds of each wrk run")
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s of the fixed-rate run (the target)")
    parser.add_argument("--also-rates", type=lambda v: [float(x) for x in v.split(",") if x], default=[400.0, 300.0],
                        help="more fixed rates to run, comma-separated (default 400,300)")
    parser.add_argument("--rate-duration", type=int, default=30, help="seconds of the fixed-rate run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=WORKERS, help=f"gunicorn workers (default {WORKERS}, as in production)")
    parser.add_argument("--profile", action="store_true", help="profile GET /api/v1/deals in this process")
    parser.add_argument("--profile-requests", type=int, default=2_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)

    admin_url, url = database_urls(args.pg)
    cores = os.cpu_count()
    print(f"GET /api/v1/deals and POST /api/v1/offers: gunicorn {args.workers} workers x {THREADS} threads, "
          f"PostgreSQL, {cores} cores shared by wrk, the client, gunicorn and PostgreSQL "
          f"(load average now {os.getloadavg()[0]:.1f})\n")
    t = time.perf_counter()
    recreate_database(admin_url, url)
    owners = seed(url, shops=args.shops, merchants=args.merchants, offers=args.offers, ended=args.ended_offers,
                  subscribers=args.subscribers)
    print(f"seeded {args.subscribers:,} residents, {args.shops:,} shops of {args.merchants:,} merchants, "
          f"{args.offers:,} live offers and {args.ended_offers:,} ended ones (COPY) in {time.perf_counter() - t:.1f} s")
    print(f"queries: random points within 6 km of the Duomo, radius 500-5000 m, "
          f"{CATEGORY_SHARE:.0%} for one category, limit 20\n")
    try:
        if args.profile:
            profile(url, "index", args.profile_requests)
            profile(url, "box", max(args.profile_requests // 10, 50))  # 30 times slower
            return 0
        return _run(args, url, owners)
    finally:
        if not args.keep:
            drop_database(admin_url)


def _run(args, url: str, owners) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    rates = [args.rate] + [r for r in args.also_rates if r != args.rate]
    check_paths = query_paths(300, seed=5)
    results: dict[str, dict] = {}
    ok = True
    # The old way first, so that the offers POST /api/v1/offers adds come after every GET run.
    for lookup in ("box", "index"):
        service = Service(url, lookup, workdir, args.workers)
        try:
            run_wrk(service.base, deals_lua(), workdir, min(3, args.duration), args.connections)  # indexes built, pools open
            if lookup == "box":
                # Both servers at once, only for this check: the same questions, the same answers.
                index_service = Service(url, "index", workdir, args.workers)
                try:
                    agree, asked, mean_items = same_answers(index_service.base, service.base, check_paths)
                finally:
                    index_service.stop()
                print(f"same answers from the index and the box query: {agree}/{asked} "
                      f"(mean {mean_items:.1f} deals per answer)\n")
                ok = ok and agree == asked
            results[f"{lookup} max"] = most = measured(
                service, url, lambda: run_wrk(service.base, deals_lua(), workdir, args.duration, args.connections))
            for rate in rates:
                if most["rps"] < rate / 2:
                    # Hopelessly overloaded: an open loop would only pile up a queue for minutes.
                    results[f"{lookup} {rate:g}"] = None
                    continue
                paths = query_paths(int(rate * args.rate_duration), seed=9)
                results[f"{lookup} {rate:g}"] = measured(service, url, lambda: open_loop(service.port, paths, rate))
            if lookup == "index":
                results["offers"] = measured(
                    service, url, lambda: run_wrk(service.base, offers_lua(owners), workdir, min(args.duration, 10), 8))
        finally:
            service.stop()
        if service.tracebacks():
            print(f"  tracebacks in {service.log_path}!")
            ok = False

    label = {"index": "in-memory shop index (new)", "box": "SQL bounding box (old)"}
    print("GET /api/v1/deals, the most it serves (wrk -t2 -c%d -d%ds, closed loop)" % (args.connections, args.duration))
    for lookup in ("index", "box"):
        print(f"  {label[lookup]:28} {fmt(results[f'{lookup} max'])}")
    for rate in rates:
        print(f"\nGET /api/v1/deals at a fixed {rate:g} requests/s for {args.rate_duration} s "
              "(open loop, latency from the moment each request was due)")
        for lookup in ("index", "box"):
            r = results[f"{lookup} {rate:g}"]
            print(f"  {label[lookup]:28} " + (fmt(r) if r else f"not run: at most {results[f'{lookup} max']['rps']:.0f} req/s closed loop"))
    print("\nPOST /api/v1/offers (wrk -t2 -c8, 1,000 merchants' keys, closed loop)")
    print(f"  {'offer + fan-out row':28} {fmt(results['offers'])}")
    for rate in rates:
        fixed = results[f"index {rate:g}"]
        met = fixed is not None and (fixed["p99_us"] < 50_000 and fixed["rps"] >= rate * 0.98 and not fixed["non_2xx"]
               and not fixed["socket_errors"] and not fixed.get("unanswered"))
        print(f"\ntarget GET /api/v1/deals p99 < 50 ms at {rate:g} requests/s: {'met' if met else 'MISSED'}", end="")
    print(f"\n(logs in {workdir})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
