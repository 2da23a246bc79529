"""The push gateway's transports side by side, without the outbox: pushes/s and CPU per push.

    .venv/bin/python -m bench.transport [--pushes 20000] [--batch 250] [--lanes 2] [--sinks nginx,plain]

In the same run, against the same FCM stand-ins, each in a process of its own:
- `requests`: FirebasePushGateway (firebase-admin's `messaging.send` on `--concurrency` threads);
- `curl`: CurlPushGateway (libcurl, one CurlMulti; at `--concurrency` and, over HTTP/2, at
  `--curl-in-flight`);
- `plain loop`: firebase-admin as its documentation shows it, `send_each_for_multicast` in
  chunks of 500.
The gateways are called as the dispatcher calls them: `--lanes` threads sending batches of
`--batch` real-shaped messages at once. The stand-ins: Debian's nginx answering every POST at
once over TLS with HTTP/2 (as FCM speaks; a self-signed certificate made for the run), and
bench/fcm_sink.py over plain HTTP/1.1 (as the emulator speaks). CPU µs per push is the
sender's process CPU time (every thread) over the pushes; nginx's own is printed beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from bench import NginxFcm, cpu_s, free_port, wait_port

# The smallest run that still goes through every step (tests/e2e/test_benchmarks.py).
TINY = ["--pushes", "600", "--batch", "100"]

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "bench-transport"
CONTENDERS = ("requests", "curl", "curl-wide", "plain")


def messages(count: int):
    from dealsvc.adapters.push import PushMessage

    # The shape dispatch builds: a titled alert with the offer's facts as data.
    return [
        PushMessage(
            token=f"bench-token-{i:07d}-" + "x" * 120,
            data={"type": "offer", "offer_id": f"off_{i % 50:04d}", "shop_id": "shp_0001", "price_cents": "200",
                  "original_price_cents": "400", "currency": "EUR", "distance_m": "400", "wave": "1"},
            collapse_key=f"offer-off_{i % 50:04d}", ttl_s=7200, expires_at_unix=2_000_000_000,
            title="-50 % Pane di ieri at Forno Rossi", body="€2.00 instead of €4.00 · 400 m · until 19:30",
        )
        for i in range(count)
    ]


def _run_gateway(kind: str, endpoint: str, ca: str | None, args) -> dict:
    from dealsvc.adapters.fcm_curl import CurlPushGateway
    from dealsvc.adapters.push import SENT, FirebasePushGateway

    if kind == "requests":
        gateway = FirebasePushGateway(project_id=PROJECT, endpoint=endpoint, concurrency=args.concurrency)
        if ca:
            gateway._service._client.session.verify = ca
    else:
        width = args.concurrency if kind == "curl" else args.curl_in_flight
        gateway = CurlPushGateway(project_id=PROJECT, endpoint=endpoint, concurrency=width, ca_bundle=ca)
    shaped = messages(args.pushes)
    batches = [shaped[i : i + args.batch] for i in range(0, len(shaped), args.batch)]
    gateway.send(shaped[: min(50, len(shaped))])  # connections and threads up before the clock starts
    sent = [0]
    lock = threading.Lock()

    def lane():
        while True:
            with lock:
                if not batches:
                    return
                batch = batches.pop()
            ok = sum(1 for r in gateway.send(batch) if r.outcome == SENT)
            with lock:
                sent[0] += ok

    cpu, started = time.process_time(), time.perf_counter()
    lanes = [threading.Thread(target=lane) for _ in range(args.lanes)]
    for t in lanes:
        t.start()
    for t in lanes:
        t.join()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    gateway.close()
    return {"pushes": sent[0], "seconds": seconds, "cpu_s": cpu}


def _run_plain(endpoint: str, ca: str | None, args) -> dict:
    import firebase_admin
    import google.auth.credentials
    from firebase_admin import credentials, messaging

    class Anonymous(credentials.Base):
        def get_credential(self):
            return google.auth.credentials.AnonymousCredentials()

    app = firebase_admin.initialize_app(Anonymous(), {"projectId": PROJECT, "httpTimeout": 10})
    service = messaging._get_messaging_service(app)
    service._fcm_url = f"{endpoint}/v1/projects/{PROJECT}/messages:send"
    if ca:
        os.environ["REQUESTS_CA_BUNDLE"] = ca  # this session reads the environment, which wins
    from dealsvc.adapters.push import to_fcm

    one = to_fcm(messages(1)[0])
    tokens = [m.token for m in messages(args.pushes)]
    warnings.simplefilter("ignore", DeprecationWarning)  # MulticastMessage.tokens: as the docs still show it
    cpu, started = time.process_time(), time.perf_counter()
    ok = 0
    for start in range(0, len(tokens), 500):
        ok += messaging.send_each_for_multicast(
            messaging.MulticastMessage(tokens=tokens[start : start + 500], data=one.data,
                                       notification=one.notification, android=one.android, apns=one.apns),
            app=app,
        ).success_count
    return {"pushes": ok, "seconds": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}


def _contender(argv) -> None:
    """One contender in this process: prints its figures as JSON."""
    kind, endpoint, ca = argv.contender, argv.endpoint, argv.ca or None
    figures = _run_plain(endpoint, ca, argv) if kind == "plain" else _run_gateway(kind, endpoint, ca, argv)
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=250, help="messages per send() (DEALSVC_PUSH_BATCH_SIZE)")
    parser.add_argument("--lanes", type=int, default=2, help="threads calling send() at once (DEALSVC_PUSH_LANES)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight per process (DEALSVC_PUSH_CONCURRENCY)")
    parser.add_argument("--curl-in-flight", type=int, default=256, help="the curl gateway's second, wider run")
    parser.add_argument("--sinks", default="nginx,plain", help="nginx (TLS, HTTP/2) and/or plain (HTTP/1.1)")
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.contender:
        _contender(args)
        return 0

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print(f"{args.pushes:,} pushes per contender, batches of {args.batch} from {args.lanes} lanes, "
          f"{os.cpu_count()} cores\n")
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sink in args.sinks.split(","):
            folder = Path(tmp) / sink
            folder.mkdir()
            if sink == "nginx":
                nginx = NginxFcm(folder, PROJECT)
                server, endpoint, ca = nginx.process, nginx.endpoint, nginx.ca
                label = "nginx, TLS + HTTP/2"
            else:
                port = free_port()
                server = subprocess.Popen([sys.executable, "-m", "bench.fcm_sink", "--port", str(port)], cwd=ROOT, env=env)
                wait_port(port)
                endpoint, ca, label = f"http://127.0.0.1:{port}", None, "bench/fcm_sink, HTTP/1.1"
            try:
                print(f"FCM stand-in: {label}")
                print(f"  {'':<34}{'pushes':>8}{'pushes/s':>10}{'CPU µs/push':>13}{'sink µs/push':>14}{'peak MB':>9}")
                for kind in CONTENDERS:
                    if kind == "curl-wide" and sink != "nginx":
                        continue  # over plain HTTP/1.1 the curl gateway keeps at most 32 in flight
                    sink_cpu = cpu_s(server.pid, with_children=True)
                    done = subprocess.run(
                        [sys.executable, "-m", "bench.transport", "--contender", kind, "--endpoint", endpoint,
                         "--ca", str(ca or ""), "--pushes", str(args.pushes), "--batch", str(args.batch),
                         "--lanes", str(args.lanes), "--concurrency", str(args.concurrency),
                         "--curl-in-flight", str(args.curl_in_flight)],
                        cwd=ROOT, env=env, capture_output=True, text=True,
                    )
                    if done.returncode:
                        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
                    f = json.loads(done.stdout.strip().splitlines()[-1])
                    sink_cpu = cpu_s(server.pid, with_children=True) - sink_cpu
                    if f["pushes"] != args.pushes:
                        raise SystemExit(f"{kind}: {f['pushes']} of {args.pushes} pushes accepted")
                    rate = f["pushes"] / f["seconds"]
                    best[f"{sink}/{kind}"] = rate
                    name = {
                        "requests": f"requests gateway ({args.concurrency} threads)",
                        "curl": f"curl gateway ({args.concurrency} in flight)",
                        "curl-wide": f"curl gateway ({args.curl_in_flight} in flight)",
                        "plain": "plain send_each_for_multicast (500)",
                    }[kind]
                    print(f"  {name:<34}{f['pushes']:>8,}{rate:>10,.0f}{f['cpu_s'] / f['pushes'] * 1e6:>13,.0f}"
                          f"{sink_cpu / f['pushes'] * 1e6:>14,.0f}{f['peak_mb']:>9.0f}")
                print()
            finally:
                server.terminate()
                server.wait(10)
    sink = "nginx" if "nginx/curl" in best else args.sinks.split(",")[0]
    fastest = max(best[f"{sink}/curl"], best.get(f"{sink}/curl-wide", 0.0))
    print(f"curl gateway over {sink}: {fastest:,.0f} pushes/s, {fastest / best[f'{sink}/requests']:.1f}x the "
          f"requests gateway, {fastest / best[f'{sink}/plain']:.1f}x the plain loop "
          f"(target: 10,000 pushes/s, 8x the plain loop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
