"""Three parts of the dispatcher's CPU a push, each beside what it replaced, in one run:

    .venv/bin/python -m bench.push_parts --pg postgresql://postgres@127.0.0.1:5432/test [--pushes 40000] [--heap 200000]

- the request body's JSON: orjson (what the curl gateway writes) against the standard library's
  C encoder, on firebase-admin's encoding of real-shaped alerts;
- the outbox's array parameters: the text `pg_array` writes against a Python list that psycopg
  dumps element by element, sent to PostgreSQL as the claim's statements send them;
- the cycle collector: a push's client-side work (firebase-admin's message, its JSON) with
  Python's default thresholds and with the dispatcher's (workers/dispatcher.py), while `--heap`
  long-lived objects stay in memory besides this process's own (a dispatcher's code and
  libraries alone are about 125,000) and a few batches are held at once, as a dispatcher's lanes
  hold theirs.
CPU is this process's time (process_time); wall time beside it.
"""
from __future__ import annotations

import argparse
import collections
import gc
import json
import time

import orjson
import psycopg

from bench.transport import messages

# The array elements a push carries through the outbox's statements on the happy path: planned
# (key, distance, batch, and the key again for the token check), claimed (the resident's key),
# counted (key, day, count), recorded (id, FCM's message id, attempts).
ELEMENTS_A_PUSH = {"integer": 8, "double precision": 1, "varchar": 2}
# What the whole may spend a push for 10,000 pushes/s on two cores (bench/fanout.py's target):
# the dispatchers, PostgreSQL and the FCM stand-in together.
BUDGET_US = 200

# The smallest run that still goes through every step (tests/e2e/test_benchmarks.py).
TINY = ["--pg", "{pg}", "--pushes", "300", "--heap", "10000", "--elements", "100"]


def _timed(work, repeat: int = 1) -> tuple[float, float]:
    """CPU and wall seconds of `work()` run `repeat` times."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeat):
        work()
    return time.process_time() - cpu, time.perf_counter() - wall


def _row(label: str, cpu: float, wall: float, units: int, unit: str) -> float:
    """Prints the line; the CPU µs a unit."""
    print(f"  {label:<52}{cpu / units * 1e6:>9.2f}{wall / units * 1e6:>11.2f}  µs a {unit}")
    return cpu / units * 1e6


def _bodies(args) -> float:
    from dealsvc.adapters.push import firebase_messaging, to_fcm

    import firebase_admin

    app, service = firebase_messaging("bench-parts", None, "http://127.0.0.1:9", 10.0)
    try:
        data = [service._message_data(to_fcm(m), False) for m in messages(args.pushes)]
    finally:
        firebase_admin.delete_app(app)
    encoder = json.JSONEncoder(separators=(",", ":"))
    assert all(json.loads(orjson.dumps(d)) == json.loads(encoder.encode(d)) for d in data[:100])
    print("The request body's JSON (CPU, wall):")
    before = _row("json, the C encoder", *_timed(lambda: [encoder.encode(d).encode() for d in data]), len(data), "push")
    return before - _row("orjson", *_timed(lambda: [orjson.dumps(d) for d in data]), len(data), "push")


def _arrays(args) -> float:
    from dealsvc.adapters.db.queries.outbox.tables import pg_array

    keys = list(range(100_000, 100_000 + args.elements))
    distances = [400.0 + i / 7 for i in range(args.elements)]
    ids = [f"projects/bench/messages/0:17650{i:08d}%abcdef" for i in range(args.elements)]
    shapes = [("integer", keys), ("double precision", distances), ("varchar", ids)]
    repeat = max(1, 200_000 // args.elements)
    print(f"Array parameters of {args.elements:,} elements, client CPU (wall with the server's reply):")
    saved = 0.0
    with psycopg.connect(args.pg, autocommit=True) as conn:
        for sql_type, values in shapes:
            query = f"SELECT count(*) FROM unnest(CAST(%s AS {sql_type}[]))"
            assert conn.execute(query, (values,)).fetchone()[0] == conn.execute(query, (pg_array(values),)).fetchone()[0]
            before = _row(f"{sql_type}[]: a list, dumped by psycopg",
                          *_timed(lambda: conn.execute(query, (values,)).fetchone(), repeat), repeat * len(values), "element")
            after = _row(f"{sql_type}[]: pg_array's text",
                         *_timed(lambda: conn.execute(query, (pg_array(values),)).fetchone(), repeat), repeat * len(values), "element")
            saved += (before - after) * ELEMENTS_A_PUSH[sql_type]
    return saved


# Batches a dispatcher holds at once (its lanes' claims on the wire): their objects outlive a
# few young passes, as a real claim's do, and move to the old generation.
IN_FLIGHT = 8


def _one_batch(service, to_fcm, batch) -> list:
    """A batch's messages, encodings and bodies, held until the batch is done."""
    built = [to_fcm(m) for m in batch]
    data = [service._message_data(message, False) for message in built]
    return [built, data, [orjson.dumps(d) for d in data]]


def _collector(args) -> float:
    from dealsvc.adapters.push import firebase_messaging, to_fcm
    from workers.dispatcher import GC_THRESHOLDS

    import firebase_admin

    heap = [(i, {"pk": i}) for i in range(args.heap // 2)]  # two tracked objects each
    batch = messages(1000)
    app, service = firebase_messaging("bench-parts-gc", None, "http://127.0.0.1:9", 10.0)
    default = gc.get_threshold()
    print(f"A push's client-side work with {len(heap) * 2:,} long-lived objects in memory:")
    costs = []
    try:
        for label, thresholds in (("Python's default thresholds", default), ("the dispatcher's", GC_THRESHOLDS)):
            gc.collect()
            gc.set_threshold(*thresholds)
            passes = sum(s["collections"] for s in gc.get_stats())
            rounds = max(1, args.pushes // len(batch))
            in_flight: collections.deque = collections.deque(maxlen=IN_FLIGHT)
            cpu, wall = _timed(lambda: in_flight.append(_one_batch(service, to_fcm, batch)), rounds)
            passes = sum(s["collections"] for s in gc.get_stats()) - passes
            costs.append(_row(f"{label} {thresholds}: {passes} passes", cpu, wall, rounds * len(batch), "push"))
    finally:
        gc.set_threshold(*default)
        firebase_admin.delete_app(app)
    del heap
    return costs[0] - costs[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", required=True, help="a PostgreSQL URL")
    parser.add_argument("--pushes", type=int, default=40_000)
    parser.add_argument("--elements", type=int, default=1000, help="array elements a statement (a batch's pushes)")
    parser.add_argument("--heap", type=int, default=200_000, help="long-lived objects during the collector's part")
    args = parser.parse_args(argv)
    print(f"{'':<54}{'CPU':>9}{'wall':>11}")
    saved = {"the body's JSON": _bodies(args), "array parameters": _arrays(args), "the collector": _collector(args)}
    parts = ", ".join(f"{name} {us:.1f}" for name, us in saved.items())
    print(f"Saved a push: {parts} µs of CPU; target: {BUDGET_US} µs a push for everything at 10,000 pushes/s on two cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
