"""Match offers against 1,000,000 residents around Milan: the project's index next to a plain
geopy loop and, where PostGIS is installed, ST_DWithin on geography — same data, same run.

    .venv/bin/python -m bench.match [--subscribers 1000000] [--offers 30] [--pg URL | --no-pg]

Prints the time per match of each method and the number of matches, which must agree.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

import numpy as np
from geographiclib.geodesic import Geodesic
from geopy.distance import geodesic as geopy_geodesic

from dealsvc.adapters.spatial import PlaceArrays, SubscriberIndex
from dealsvc.domain import geo

# The smallest run that still goes through every step (tests/e2e/test_benchmarks.py); "{pg}" is
# the test PostgreSQL.
TINY = ["--subscribers", "2000", "--offers", "3", "--geopy-sample", "200", "--pg", "{pg}", "--postgis-offers", "2"]

MILAN = (45.4642, 9.1900)


def residents(n: int, seed: int = 42):
    """A metropolitan area: a third in the 12 km-wide city, the rest over 60 km x 60 km;
    radii uniform 0.5–10 km."""
    rng = np.random.default_rng(seed)
    city = n // 3
    half_lat = np.array([6_000] * city + [30_000] * (n - city)) / 111_000
    half_lon = half_lat / np.cos(np.radians(MILAN[0]))
    lat = MILAN[0] + rng.uniform(-1, 1, n) * half_lat
    lon = MILAN[1] + rng.uniform(-1, 1, n) * half_lon
    radius = rng.uniform(500, 10_000, n).round()
    return lat, lon, radius


def shops(k: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    return [
        (MILAN[0] + rng.normal(0, 0.04), MILAN[1] + rng.normal(0, 0.05)) for _ in range(k)
    ]


def exact_count(lat, lon, radius, shop) -> int:
    """The reference: geographiclib on every resident a generous box cannot rule out."""
    box = geo.reach_box(shop[0], shop[1], float(radius.max()))
    near = np.flatnonzero((lat >= box.min_lat) & (lat <= box.max_lat) & (lon >= box.min_lon) & (lon <= box.max_lon))
    g = Geodesic.WGS84
    return sum(
        1 for i in near if g.Inverse(shop[0], shop[1], lat[i], lon[i], Geodesic.DISTANCE)["s12"] <= radius[i]
    )


def bench_index(lat, lon, radius, points):
    n = len(lat)
    t0 = time.perf_counter()
    arrays = PlaceArrays.from_columns(np.arange(n), lat, lon, radius, np.zeros(n))
    build_s = time.perf_counter() - t0
    times, counts = [], []
    for p in points:
        t = time.perf_counter()
        found = SubscriberIndex._match_arrays(arrays, p[0], p[1], 1e9, 0, None)
        times.append(time.perf_counter() - t)
        counts.append(len(found))
    return build_s, times, counts


def bench_geopy(lat, lon, radius, shop, sample: int):
    rng = np.random.default_rng(3)
    idx = rng.choice(len(lat), size=sample, replace=False)
    t = time.perf_counter()
    hits = sum(1 for i in idx if geopy_geodesic(shop, (lat[i], lon[i])).m <= radius[i])
    per_call = (time.perf_counter() - t) / sample
    agree = sum(
        1 for i in idx
        if (geopy_geodesic(shop, (lat[i], lon[i])).m <= radius[i]) == geo.within(shop[0], shop[1], lat[i], lon[i], radius[i])
    )
    return per_call * len(lat), hits, agree, sample


def bench_postgis(url: str, lat, lon, radius, points):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.Error as exc:
            return f"PostGIS not available ({exc.__class__.__name__})"
        conn.execute("DROP SCHEMA IF EXISTS bench_match CASCADE")
        conn.execute("CREATE SCHEMA bench_match")
        try:
            conn.execute("CREATE TABLE bench_match.subs (pk int primary key, lat float8, lon float8, radius float8)")
            buf = io.StringIO()
            for i, (a, b, r) in enumerate(zip(lat.tolist(), lon.tolist(), radius.tolist())):
                buf.write(f"{i}\t{a!r}\t{b!r}\t{r!r}\n")
            with conn.cursor().copy("COPY bench_match.subs FROM STDIN") as copy:
                copy.write(buf.getvalue())
            conn.execute(
                "ALTER TABLE bench_match.subs ADD COLUMN geog geography(Point, 4326);"
                "UPDATE bench_match.subs SET geog = ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography;"
                "CREATE INDEX ON bench_match.subs USING gist (geog); ANALYZE bench_match.subs;"
            )
            times, counts = [], []
            for p in points:
                t = time.perf_counter()
                (count,) = conn.execute(
                    "SELECT count(*) FROM bench_match.subs WHERE ST_DWithin(geog, "
                    "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, radius)",
                    (p[1], p[0]),
                ).fetchone()
                times.append(time.perf_counter() - t)
                counts.append(count)
            return times, counts
        finally:
            conn.execute("DROP SCHEMA bench_match CASCADE")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--offers", type=int, default=30)
    parser.add_argument("--geopy-sample", type=int, default=20_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--postgis-offers", type=int, default=5)
    args = parser.parse_args(argv)

    lat, lon, radius = residents(args.subscribers)
    points = shops(args.offers)
    print(f"{args.subscribers:,} residents around Milan, radii 0.5–10 km; {args.offers} offers\n")

    build_s, times, counts = bench_index(lat, lon, radius, points)
    print(f"index (radius classes x latitude cells, exact band)  build {build_s:.2f} s")
    print(f"  per match: median {ms(statistics.median(times))}  p95 {ms(sorted(times)[int(len(times) * 0.95) - 1])}  max {ms(max(times))}")
    print(f"  matches per offer: mean {statistics.mean(counts):,.0f}")

    reference = [exact_count(lat, lon, radius, p) for p in points[:3]]
    agree = all(c == r for c, r in zip(counts, reference))
    print(f"  exact geographiclib count, first 3 offers: {reference}  index: {counts[:3]}  agree: {agree}")

    per_match, hits, agreed, sample = bench_geopy(lat, lon, radius, points[0], args.geopy_sample)
    print(f"\nplain loop over geopy.distance.geodesic (sampled {sample:,}, extrapolated)")
    print(f"  per match: {per_match:9.1f} s   matches in sample: {hits:,}  (index agrees on {agreed:,}/{sample:,})")
    print(f"  index is {per_match / statistics.median(times):,.0f}x faster")

    ok = agree and agreed == sample
    if not args.no_pg:
        result = bench_postgis(args.pg, lat, lon, radius, points[: args.postgis_offers])
        print("\nPostGIS ST_DWithin(geography, point, radius_m from the row)")
        if isinstance(result, str):
            print(f"  skipped: {result}")
        else:
            pg_times, pg_counts = result
            print(f"  per match: median {ms(statistics.median(pg_times))}  max {ms(max(pg_times))}")
            print(f"  matches: {pg_counts}  index: {counts[: len(pg_counts)]}  agree: {pg_counts == counts[: len(pg_counts)]}")
            ok = ok and pg_counts == counts[: len(pg_counts)]
    target = statistics.median(times) < 0.020
    print(f"\ntarget < 20 ms per match: {'met' if target else 'MISSED'}; counts agree: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
