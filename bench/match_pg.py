"""The geo index at 1,000,000 residents on PostgreSQL: loaded with COPY into the project's own
schema, the index built from PostgreSQL by the project's own loading code, matched, refreshed,
and checked against PostGIS and geographiclib on the same rows.

    .venv/bin/python -m bench.match_pg [--subscribers 1000000] [--offers 30] [--pg URL] [--keep]

Works in a schema of its own (dropped at the end unless --keep), migrated by the project's
Alembic migrations. PostGIS is needed for the ST_DWithin check (CREATE EXTENSION postgis).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import secrets
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import numpy as np
from geographiclib.geodesic import Geodesic

from bench.match import residents, shops
from dealsvc.adapters.db import Database, make_engine, migrate
from dealsvc.adapters.spatial import SubscriberIndex
from dealsvc.domain import geo
from dealsvc.domain.categories import CATEGORIES
from dealsvc.domain.clock import system_clock

# The smallest run that still goes through every step (tests/e2e/test_benchmarks.py); "{pg}" is
# the test PostgreSQL.
TINY = ["--pg", "{pg}", "--subscribers", "2000", "--offers", "3", "--postgis-offers", "1", "--exact-offers", "1",
        "--changes", "20"]

CAP_M = 10_000.0  # the operator's radius cap in this run: above every radius, so it never bites
COLUMNS = (
    "pk, id, secret_hash, fcm_token, lat, lon, radius_m, categories, quiet_start, quiet_end, timezone, "
    "max_per_day, active, created_at, updated_at, deleted_at"
)


def interests(n: int, seed: int = 5) -> list[str]:
    """Most residents take every category ("[]"); about 30 % pick one or two."""
    rng = np.random.default_rng(seed)
    picks = rng.random(n)
    first = rng.integers(0, len(CATEGORIES), n)
    second = rng.integers(0, len(CATEGORIES), n)
    out = []
    for p, a, b in zip(picks.tolist(), first.tolist(), second.tolist()):
        if p < 0.7:
            out.append("[]")
        else:
            names = sorted({CATEGORIES[a]} | ({CATEGORIES[b]} if p < 0.85 else set()))
            out.append("[" + ", ".join(f'"{c}"' for c in names) + "]")
    return out


def tsv_rows(first_pk: int, lat, lon, radius, cats, stamps) -> str:
    """Rows in COPY's text format, as the service would have written them."""
    lines = []
    for i, (a, b, r, c, t) in enumerate(zip(lat.tolist(), lon.tolist(), radius.tolist(), cats, stamps)):
        pk = first_pk + i
        lines.append(
            f"{pk}\tsub_bench{pk:012d}\t{pk:064x}\tbench-token-{pk}\t{a!r}\t{b!r}\t{int(r)}\t{c}\t\\N\t\\N\tEurope/Rome\t"
            f"\\N\tt\t{t}\t{t}\t\\N\n"
        )
    return "".join(lines)


def past_stamps(n: int, now: datetime, seed: int = 9) -> list[str]:
    """Sign-ups and last changes spread over the past year (naive UTC, as stored)."""
    rng = np.random.default_rng(seed)
    ages = np.sort(rng.uniform(3600, 365 * 86400, n))[::-1]
    base = now.replace(tzinfo=None)
    return [(base - timedelta(seconds=float(s))).isoformat(sep=" ") for s in ages]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """The process's high-water mark (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def index_bytes(index: SubscriberIndex) -> int:
    base = index._base
    return sum(v.nbytes for v in vars(base).values() if isinstance(v, np.ndarray))


def plain_load(s):
    """The obvious way, and the project's until this benchmark: every row through the ORM's
    result, the category lists decoded row by row, then the arrays."""
    from sqlalchemy import select

    from dealsvc.adapters.db.models import Subscriber
    from dealsvc.adapters.spatial import PlaceArrays, category_mask

    rows = s.execute(
        select(Subscriber.pk, Subscriber.lat, Subscriber.lon, Subscriber.radius_m, Subscriber.categories)
        .where(Subscriber.active.is_(True))
    ).all()
    return PlaceArrays.build([(pk, lat, lon, r, category_mask(c)) for pk, lat, lon, r, c in rows])


def build_figures(url: str, loader: str) -> dict:
    """What a fresh dispatcher process pays: build its index from PostgreSQL, in a process of
    its own (so the memory figures are the index's, not this benchmark's)."""
    if loader == "plain":
        from dealsvc.adapters.spatial import index as spatial_index

        spatial_index.load_active = plain_load  # what SubscriberIndex.rebuild calls
    db = Database(make_engine(url))
    db.ping()
    index = SubscriberIndex(db, system_clock)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    index.refresh()  # the first refresh rebuilds from the database
    build_s = time.perf_counter() - t0
    rss1 = rss_mb()
    t0 = time.perf_counter()
    index.rebuild()
    again_s = time.perf_counter() - t0
    db.dispose()
    return {
        "rows": int(len(index._base.pk)),
        "build_s": build_s,
        "rebuild_s": again_s,
        "arrays_bytes": index_bytes(index),
        "rss_before_mb": rss0,
        "rss_after_mb": rss1,
        "rss_peak_mb": peak_rss_mb(),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def postgis_counts(conn, points, category: str | None = None) -> tuple[list[int], list[float]]:
    """ST_DWithin on geography (spheroid), radius from the row capped like the service caps it;
    the same test with the cap as a constant radius comes first, so the GiST index can prune."""
    counts, times = [], []
    where_cat = ""
    if category:
        where_cat = f" AND (categories::jsonb = '[]'::jsonb OR categories::jsonb ? '{category}')"
    for lat, lon in points:
        t = time.perf_counter()
        (count,) = conn.execute(
            "WITH p AS (SELECT geography(ST_SetSRID(ST_MakePoint(%s, %s), 4326)) AS g) "
            "SELECT count(*) FROM subscribers, p WHERE active AND ST_DWithin(geog, p.g, %s) "
            "AND ST_DWithin(geog, p.g, LEAST(radius_m, %s))" + where_cat,
            (lon, lat, CAP_M, CAP_M),
        ).fetchone()
        times.append(time.perf_counter() - t)
        counts.append(count)
    return counts, times


def exact_counts(conn, points) -> list[int]:
    """geographiclib on every active resident that a generous box around the shop cannot rule out."""
    g = Geodesic.WGS84
    out = []
    for lat, lon in points:
        box = geo.reach_box(lat, lon, CAP_M)
        rows = conn.execute(
            "SELECT lat, lon, radius_m FROM subscribers WHERE active AND lat BETWEEN %s AND %s AND lon BETWEEN %s AND %s",
            (box.min_lat, box.max_lat, box.min_lon, box.max_lon),
        ).fetchall()
        out.append(
            sum(1 for a, b, r in rows if g.Inverse(lat, lon, a, b, Geodesic.DISTANCE)["s12"] <= min(r, CAP_M))
        )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--offers", type=int, default=30)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--postgis-offers", type=int, default=5)
    parser.add_argument("--exact-offers", type=int, default=3)
    parser.add_argument("--changes", type=int, default=1_000, help="residents moved (and as many joining, half as many leaving) for the refresh")
    parser.add_argument("--places-share", type=float, default=0.2, help="share of residents given a second place (work), after the rest")
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument("--build-figures", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--loader", default="project", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build_figures:
        print(json.dumps(build_figures(args.build_figures, args.loader)))
        return 0

    import psycopg

    n = args.subscribers
    schema = "bench_geo_" + secrets.token_hex(4)
    sep = "&" if "?" in args.pg else "?"
    url = f"{args.pg}{sep}options={quote(f'-csearch_path={schema},public')}"
    admin = psycopg.connect(args.pg, autocommit=True)
    try:
        admin.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.Error as exc:
        print(f"PostGIS is needed for the ST_DWithin check: {exc}")
        return 2
    admin.execute(f'CREATE SCHEMA "{schema}"')
    engine = make_engine(url)
    ok = True
    try:
        print(f"{n:,} residents around Milan on PostgreSQL (schema {schema}), radii 0.5–10 km, "
              f"30 % with one or two categories; {args.offers} offers\n")
        migrate.upgrade(engine)

        # --- load -------------------------------------------------------------------------
        lat, lon, radius = residents(n)
        cats = interests(n)
        now = system_clock()
        t0 = time.perf_counter()
        text = tsv_rows(1, lat, lon, radius, cats, past_stamps(n, now))
        prep_s = time.perf_counter() - t0
        with psycopg.connect(url) as conn:
            t0 = time.perf_counter()
            with conn.cursor().copy(f"COPY subscribers ({COLUMNS}) FROM STDIN") as copy:
                step = 8 << 20
                for i in range(0, len(text), step):
                    copy.write(text[i : i + step])
            conn.execute("SELECT setval(pg_get_serial_sequence('subscribers', 'pk'), %s)", (n,))
            conn.commit()
            copy_s = time.perf_counter() - t0
            conn.autocommit = True
            t0 = time.perf_counter()
            conn.execute("VACUUM ANALYZE subscribers")
            analyze_s = time.perf_counter() - t0
            (size,) = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('subscribers'))").fetchone()
            # For PostGIS only (the index reads its own columns): a geography kept in step with lat/lon.
            t0 = time.perf_counter()
            conn.execute(
                "ALTER TABLE subscribers ADD COLUMN geog geography(Point, 4326) "
                "GENERATED ALWAYS AS (geography(ST_SetSRID(ST_MakePoint(lon, lat), 4326))) STORED"
            )
            conn.execute("CREATE INDEX ON subscribers USING gist (geog)")
            conn.execute("ANALYZE subscribers")
            geog_s = time.perf_counter() - t0
        del text
        print(f"load: rows prepared {prep_s:.1f} s, COPY into subscribers (with its 7 indexes) {copy_s:.1f} s, "
              f"VACUUM ANALYZE {analyze_s:.1f} s; table + indexes {size}")
        print(f"  (for the PostGIS check only: a stored geography column and its GiST index, {geog_s:.1f} s)")

        # --- build from PostgreSQL through the project's loading code ---------------------
        print(f"\nindex built from PostgreSQL by a fresh process (SubscriberIndex.refresh, then a rebuild), {n:,} rows:")
        for loader, label in (("project", "the project's loader (binary COPY into numpy)"),
                              ("plain", "the plain way (ORM rows, categories decoded per row)")):
            child = subprocess.run(
                [sys.executable, "-m", "bench.match_pg", "--build-figures", url, "--loader", loader],
                capture_output=True, text=True, check=True,
            )
            f = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"  {label}\n    build {f['build_s']:.2f} s, a rebuild later {f['rebuild_s']:.2f} s; arrays "
                  f"{f['arrays_bytes'] / 2**20:.1f} MB ({f['arrays_bytes'] / f['rows']:.0f} bytes a resident); process RSS "
                  f"{f['rss_before_mb']:.0f} MB before, {f['rss_after_mb']:.0f} MB after, peak {f['rss_peak_mb']:.0f} MB")
        db = Database(engine)
        index = SubscriberIndex(db, system_clock)
        index.refresh()

        # --- match --------------------------------------------------------------------------
        points = shops(args.offers)
        times, counts = [], []
        for p in points:
            t = time.perf_counter()
            counts.append(len(index.match(p[0], p[1], CAP_M)))
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        bakery = [len(index.match(p[0], p[1], CAP_M, "bakery")) for p in points[: args.postgis_offers]]
        bakery_s = (time.perf_counter() - t) / max(1, len(bakery))
        print(f"\nmatch (SubscriberIndex.match, {len(points)} offers): median {ms(statistics.median(times))}  "
              f"worst {ms(max(times))}; matches per offer: mean {statistics.mean(counts):,.0f}, max {max(counts):,}")
        print(f"  with a category (bakery): {ms(bakery_s)} per match")
        near_times = []
        for p in points:
            t = time.perf_counter()
            reached = index.nearest(p[0], p[1], CAP_M)
            near_times.append(time.perf_counter() - t)
            ok = ok and len(reached) == counts[len(near_times) - 1]
        print(f"nearest (a wave's order: the same residents with distances, nearest first): "
              f"median {ms(statistics.median(near_times))}  worst {ms(max(near_times))}")

        with psycopg.connect(url, autocommit=True) as conn:
            k = args.postgis_offers
            pg_counts, pg_times = postgis_counts(conn, points[:k])
            pg_bakery, _ = postgis_counts(conn, points[:k], "bakery")
            agree = pg_counts == counts[:k] and pg_bakery == bakery
            print(f"\nPostGIS ST_DWithin(geography, point, LEAST(radius_m, cap)) on the same table, first {k} offers")
            print(f"  per query: median {ms(statistics.median(pg_times))}  worst {ms(max(pg_times))}")
            print(f"  any category: PostGIS {pg_counts}  index {counts[:k]}")
            print(f"  bakery:       PostGIS {pg_bakery}  index {bakery}   agree: {agree}")
            ok = ok and agree
            e = args.exact_offers
            ref = exact_counts(conn, points[:e])
            agree = ref == counts[:e]
            print(f"  geographiclib on every candidate, first {e} offers: {ref}  agree: {agree}")
            ok = ok and agree

            # --- refresh ----------------------------------------------------------------------
            _, since = index._refresher.look()
            plan = conn.execute(
                "EXPLAIN SELECT pk, lat, lon, radius_m, categories, active, updated_at FROM subscribers WHERE updated_at >= %s",
                (since.replace(tzinfo=None),),
            ).fetchall()
            quiet = []
            for _ in range(20):
                t = time.perf_counter()
                index.refresh()
                quiet.append(time.perf_counter() - t)
            print(f"\nrefresh with nothing changed (20 times): median {ms(statistics.median(quiet))}  worst {ms(max(quiet))}; "
                  f"rows re-read: {len(index._changes.rows if index._changes else ())}")
            print(f"  plan: {plan[0][0].strip()}")

            c = args.changes
            rng = np.random.default_rng(11)
            moved = rng.choice(n, size=c, replace=False) + 1
            gone = rng.choice(np.setdiff1d(np.arange(1, n + 1), moved), size=c // 2, replace=False)
            conn.execute(
                "UPDATE subscribers SET lat = lat + 0.01, "
                "updated_at = now() AT TIME ZONE 'utc' WHERE pk = ANY(%s)",
                (moved.tolist(),),
            )
            conn.execute(
                "UPDATE subscribers SET active = false, updated_at = now() AT TIME ZONE 'utc' WHERE pk = ANY(%s)",
                (gone.tolist(),),
            )
            new_lat, new_lon, new_radius = residents(c, seed=99)
            fresh = tsv_rows(n + 1, new_lat, new_lon, new_radius, interests(c, seed=98),
                             [system_clock().replace(tzinfo=None).isoformat(sep=" ")] * c)
            with conn.cursor().copy(f"COPY subscribers ({COLUMNS}) FROM STDIN") as copy:
                copy.write(fresh)
            t = time.perf_counter()
            index.refresh()
            changed_s = time.perf_counter() - t
            overrides = len(index._changes.rows if index._changes else ())
            times2 = []
            counts2 = []
            for p in points:
                t = time.perf_counter()
                counts2.append(len(index.match(p[0], p[1], CAP_M)))
                times2.append(time.perf_counter() - t)
            pg2, _ = postgis_counts(conn, points[:k])
            agree = pg2 == counts2[:k]
            print(f"refresh after {c:,} moved, {c // 2:,} left, {c:,} joined: {ms(changed_s)}; rows re-read {overrides:,}")
            print(f"  match with those {overrides:,} overrides: median {ms(statistics.median(times2))}  worst {ms(max(times2))}")
            print(f"  PostGIS {pg2}  index {counts2[:k]}  agree: {agree}")
            ok = ok and agree

            t = time.perf_counter()
            index.rebuild()
            print(f"full rebuild (every {index._refresher.rebuild_every.total_seconds() / 60:.0f} min): {time.perf_counter() - t:.2f} s; "
                  f"after it, counts agree: {[len(index.match(p[0], p[1], CAP_M)) for p in points[:k]] == pg2}")

            # --- extra places -----------------------------------------------------------------
            share = args.places_share
            if share > 0:
                t = time.perf_counter()
                with_place = np.flatnonzero(np.random.default_rng(5).random(n) < share) + 1
                p_lat, p_lon, p_radius = residents(len(with_place), seed=77)
                # Half of them count on weekdays 09:00-18:00 only, the rest all the time.
                lines = [
                    f"{pk}\t1\twork\t{a!r}\t{b!r}\t{int(r)}\t"
                    + ("31\t09:00\t18:00" if i % 2 else "127\t\\N\t\\N")
                    for i, (pk, a, b, r) in enumerate(zip(with_place.tolist(), p_lat.tolist(), p_lon.tolist(), p_radius.tolist()))
                ]
                with conn.cursor().copy(
                    "COPY subscriber_places (subscriber_pk, position, label, lat, lon, radius_m, days, hours_start, hours_end) FROM STDIN"
                ) as copy:
                    copy.write("\n".join(lines) + "\n")
                conn.execute("ANALYZE subscriber_places")
                load_places_s = time.perf_counter() - t
                t = time.perf_counter()
                index.rebuild()
                build_s = time.perf_counter() - t
                at = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # a Wednesday, within the hours
                times3, near3, counts3 = [], [], []
                for p in points:
                    t = time.perf_counter()
                    counts3.append(len(index.match(p[0], p[1], CAP_M, at=at)))
                    times3.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    index.nearest(p[0], p[1], CAP_M, at=at)
                    near3.append(time.perf_counter() - t)
                print(f"\nwith a second place for {len(with_place):,} residents ({share:.0%}; half of them weekdays "
                      f"09:00-18:00), loaded in {load_places_s:.1f} s: rebuild {build_s:.2f} s")
                print(f"  match: median {ms(statistics.median(times3))}  worst {ms(max(times3))}; "
                      f"nearest: median {ms(statistics.median(near3))}  worst {ms(max(near3))}; "
                      f"residents per offer: mean {statistics.mean(counts3):,.0f} (one place only: {statistics.mean(counts2):,.0f})")

        target = statistics.median(times) < 0.020
        print(f"\ntarget < 20 ms per match: {'met' if target else 'MISSED'}; counts agree: {ok}")
        return 0 if ok else 1
    finally:
        engine.dispose()
        if args.keep:
            print(f"kept schema {schema}")
        else:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
