"""FCM failing, slow or odd, the database away, and shutdown: the
push pipeline loses nothing and duplicates nothing short of a crash.

Every push goes through firebase-admin over HTTP to the FCM emulator on 127.0.0.1, told to fail
for everyone through its API (PUT /emulator/api/faults/global). Each test prints the residents
with 0, 1 and 2+ pushes, counted per token at the emulator. Times are scaled down with settings
(backoffs of a fraction of a second, leases of a second) so that each test takes seconds.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from geographiclib.geodesic import Geodesic
from sqlalchemy import func, select

from config import Settings
from dealsvc.adapters.db.models import Fanout, Notification, PushBatch, Subscriber
from dealsvc.app import create_app
from dealsvc.bootstrap import bootstrap
from dealsvc.services.auth import MERCHANT, Principal
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS_ENV, empty_database
from tests.support.processes import WorkerProcess
from tests.fakes.fcm_emulator import PROJECT_ID, running_emulator
from tests.fakes.tcp_proxy import TcpProxy
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SHOP = (45.4642, 9.1900)
# Scaled down: a push's backoff and the breaker's pause are fractions of a second.
FAST = {
    "push_batch_size": 25,
    "push_lanes": 2,
    "push_lease_s": 1.0,
    "push_backoff_base_s": 0.1,
    "push_backoff_max_s": 1.0,
    "push_breaker_base_s": 0.2,
    "push_breaker_max_s": 0.8,
}


def _with(settings: Settings, **knobs) -> Settings:
    # Knobs an older version of the code did not have are left out there, so that these tests run
    # on it too and fail by their figures.
    names = {f.name for f in dataclasses.fields(Settings)}
    return settings.with_(**{k: v for k, v in knobs.items() if k in names})


@contextmanager
def _pipeline(settings: Settings, emulator, **knobs):
    container = bootstrap(_with(settings, fcm_endpoint=emulator.fcm_base, fcm_project_id=PROJECT_ID, **{**FAST, **knobs}))
    empty_database(container)
    try:
        yield container
    finally:
        container.close()


def _seed(container, tag: str, residents: int, tokens: dict[int, str] | None = None) -> list[str]:
    """`residents` residents in reach of one shop (every one at once: no waves); their tokens."""
    container.rules.update({"waves_enabled": False})
    rng = random.Random(12)
    now = container.clock()
    names = [(tokens or {}).get(i, f"tok-{tag}-{i:04d}") for i in range(residents)]
    with container.db.write() as s:
        for i, token in enumerate(names):
            spot = Geodesic.WGS84.Direct(SHOP[0], SHOP[1], rng.uniform(0, 360), rng.uniform(0, 500))
            s.add(Subscriber(
                id=f"sub_{tag}{i:04d}", secret_hash=hashlib.sha256(f"{tag}-{i}".encode()).hexdigest(), fcm_token=token,
                lat=spot["lat2"], lon=spot["lon2"], radius_m=1500, categories=[], timezone="UTC", active=True,
                created_at=now, updated_at=now,
            ))
    return names


def _post(container, hours: float = 2) -> str:
    merchant = container.merchants.register("Forno Rossi", f"{random.random()}@shop.example")
    owner = Principal(MERCHANT, merchant["id"], "active")
    shop = container.shops.create(owner, {"name": "Forno Rossi", "category": "bakery", "lat": SHOP[0], "lon": SHOP[1]})
    offer = container.offers.create(owner, {
        "shop_id": shop["id"], "title": "Pane", "category": "bakery", "original_price_cents": 400,
        "discount_pct": 50, "quantity": 10, "expires_at": container.clock() + timedelta(hours=hours),
    })
    return offer["id"]


def _open_work(container, offer_id: str) -> int:
    """Fan-outs not expanded yet, and pushes not settled yet, of the offer."""
    with container.db.read() as s:
        fanouts = s.scalar(select(func.count()).select_from(Fanout).where(
            Fanout.offer_id == offer_id, Fanout.done_at.is_(None)))
        return fanouts + s.scalar(select(func.count()).select_from(Notification).where(
            Notification.offer_id == offer_id, Notification.status.in_(["pending", "sending"])))


def _held(container) -> int:
    """Batches and pushes a dispatcher's claim holds."""
    with container.db.read() as s:
        return s.scalar(select(func.count()).select_from(PushBatch).where(PushBatch.claimed_until.is_not(None))) + \
            s.scalar(select(func.count()).select_from(Notification).where(
                Notification.status == "sending", Notification.lease_until.is_not(None)))


def _statuses(container, offer_id: str) -> Counter:
    with container.db.read() as s:
        return Counter(s.scalars(select(Notification.status).where(Notification.offer_id == offer_id)))


def _wait(what: str, condition, timeout_s: float = 30, every_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every_s)


def _global_fault(emulator, **body) -> None:
    response = requests.put(f"{emulator.root}/api/faults/global", json=body, timeout=5)
    assert response.status_code == 200, response.text


@contextmanager
def _dispatching(container):
    """The dispatcher's loop (its lanes and heartbeat) in this process, as a worker runs it."""
    stop = threading.Event()
    thread = threading.Thread(target=container.dispatcher.run_forever, args=(stop,), name="dispatcher", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the dispatcher did not stop"


def _figures(label: str, emulator, tokens: list[str]) -> tuple[int, int, int]:
    received = Counter(m.token for m in emulator.store.messages())
    counts = [received.get(t, 0) for t in tokens]
    zero, one, more = counts.count(0), counts.count(1), sum(1 for c in counts if c >= 2)
    print(f"\n{label}: residents with 0 pushes: {zero}, 1: {one}, 2+: {more}")
    return zero, one, more


# --- item 2: FCM down for everyone, or refusing our credentials ------------------------------


@pytest.mark.parametrize("retry_after", [None, 1], ids=["503", "503-retry-after"])
def test_an_fcm_outage_for_everyone_holds_every_push_until_fcm_answers_again(settings, retry_after):
    with running_emulator() as emulator, _pipeline(settings, emulator) as c:
        tokens = _seed(c, "down", 150)
        _global_fault(emulator, fault="unavailable", retry_after=retry_after)
        offer_id = _post(c)
        with _dispatching(c):
            time.sleep(3)  # the outage
            during = sum(t["attempts"] for t in emulator.store.tokens())
            _global_fault(emulator, fault=None)
            _wait("every push to be sent", lambda: not _open_work(c, offer_id))
        zero, one, more = _figures(f"FCM 503 for 3 s (Retry-After {retry_after})", emulator, tokens)
        with c.db.read() as s:
            attempts = Counter(s.scalars(select(Notification.attempts).where(Notification.offer_id == offer_id)))
        metrics = create_app(container=c).test_client().get("/metrics").get_data(as_text=True)
    print(f"requests FCM got during the outage: {during} for {len(tokens)} pushes; attempts recorded: {dict(attempts)}")
    assert (zero, one, more) == (0, len(tokens), 0)
    assert _statuses(c, offer_id) == {"sent": len(tokens)}
    # The breaker held them: no push spent an attempt on the outage, and FCM was not hammered.
    assert attempts == {1: len(tokens)}
    assert during <= len(tokens)
    assert re.search(r'dealsvc_push_breaker_trips_total\{cause="transient"\} [1-9]', metrics)
    assert "dealsvc_push_breaker_open 0.0" in metrics


@pytest.mark.parametrize("fault", ["unauthenticated", "permission_denied"])
def test_fcm_refusing_our_credentials_holds_the_pushes_says_it_once_and_counts_it(settings, fault, caplog):
    caplog.set_level(logging.INFO)
    with running_emulator() as emulator, _pipeline(settings, emulator) as c:
        # One resident's token belongs to another sender: SENDER_ID_MISMATCH stays a dead token.
        tokens = _seed(c, "auth", 100, tokens={7: "mismatch-auth-0007"})
        metrics = create_app(container=c).test_client()
        _global_fault(emulator, fault=fault)
        offer_id = _post(c)
        with _dispatching(c):
            _wait("FCM to refuse", lambda: emulator.store.tokens())
            time.sleep(2)  # refused for 2 s
            during = metrics.get("/metrics").get_data(as_text=True)
            _global_fault(emulator, fault=None)
            _wait("every push to be sent", lambda: not _open_work(c, offer_id))
        zero, one, more = _figures(f"FCM {fault} for 2 s", emulator, tokens)
        after = metrics.get("/metrics").get_data(as_text=True)
        with c.db.read() as s:
            mismatch = s.scalar(select(Subscriber.active).where(Subscriber.fcm_token == "mismatch-auth-0007"))
    assert (zero, one, more) == (1, len(tokens) - 1, 0)
    assert _statuses(c, offer_id) == {"sent": len(tokens) - 1, "failed": 1}
    assert mismatch is False
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR and "CREDENTIALS" in r.getMessage()]
    recovered = [r for r in caplog.records if "accepts the service's credentials again" in r.getMessage()]
    print(f"log: {len(loud)} error line(s) while refused, {len(recovered)} on recovery")
    assert len(loud) == 1 and len(recovered) == 1
    failures = float(re.search(r"^dealsvc_push_auth_failures_total (\S+)$", during, re.M).group(1))
    assert failures > 0
    assert "dealsvc_push_breaker_open 1.0" in during and "dealsvc_push_breaker_open 0.0" in after


# --- item 3: a slow FCM ------------------------------------------------------------------------


def test_a_slow_fcm_duplicates_nothing_the_lease_is_renewed_while_a_batch_is_on_the_wire(settings):
    with running_emulator() as emulator, _pipeline(settings, emulator, push_batch_size=20, push_lease_s=1.0) as c:
        tokens = _seed(c, "slow", 80)
        _global_fault(emulator, fault=None, delay_s=2.5)  # every answer 2.5 s late; the lease is 1 s
        offer_id = _post(c)
        with _dispatching(c):
            _wait("every push to be sent", lambda: not _open_work(c, offer_id), timeout_s=60)
        zero, one, more = _figures("FCM answering in 2.5 s, lease 1 s", emulator, tokens)
    assert (zero, one, more) == (0, len(tokens), 0)
    assert _statuses(c, offer_id) == {"sent": len(tokens)}


# --- item 4: an absurd Retry-After ---------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [1000000000000000, "Fri, 31 Dec 9999 23:59:59 GMT"], ids=["seconds", "http-date"])
def test_an_absurd_retry_after_is_clamped_and_fails_no_batch(settings, retry_after, caplog):
    with running_emulator() as emulator, _pipeline(settings, emulator) as c:
        tokens = _seed(c, "ra", 100)
        # The first 12 answers are 429s with that Retry-After; the others go through.
        _global_fault(emulator, fault="quota", times=12, retry_after=retry_after)
        offer_id = _post(c)
        with _dispatching(c):
            _wait("every push to be sent", lambda: not _open_work(c, offer_id))
        zero, one, more = _figures(f"429 with Retry-After {retry_after!r} on 12 answers", emulator, tokens)
    assert (zero, one, more) == (0, len(tokens), 0)
    assert _statuses(c, offer_id) == {"sent": len(tokens)}
    assert "OverflowError" not in caplog.text


# --- item 5: a 200 without "name" ---------------------------------------------------------------


def test_a_200_without_a_name_is_that_messages_alone_and_counts_as_sent(settings):
    with running_emulator() as emulator, _pipeline(settings, emulator) as c:
        tokens = _seed(c, "noname", 100)
        _global_fault(emulator, fault="no_name", times=10)  # delivered, answered {} with 200
        offer_id = _post(c)
        with _dispatching(c):
            _wait("every push to be sent", lambda: not _open_work(c, offer_id))
        zero, one, more = _figures("10 answers 200 without name", emulator, tokens)
        with c.db.read() as s:
            unnamed = s.scalar(select(func.count()).select_from(Notification).where(
                Notification.offer_id == offer_id, Notification.status == "sent", Notification.fcm_message_id.is_(None)))
    assert (zero, one, more) == (0, len(tokens), 0)
    assert _statuses(c, offer_id) == {"sent": len(tokens)}
    assert unnamed == 10


# --- item 7: the database away ------------------------------------------------------------------


def _problem_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if re.search(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback", line)]


def test_a_database_outage_is_told_once_and_waited_out_with_backoff(pg_url, tmp_path):
    settings = Settings(database_url=pg_url, admin_token=ADMIN_TOKEN, var_dir=tmp_path, geocoder="none")
    container = bootstrap(settings, migrate_schema=True)
    parts = urlsplit(pg_url)
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username
                                        else f"127.0.0.1:{proxy.port}"))
    workers: list[WorkerProcess] = []
    try:
        with running_emulator() as emulator:
            env = {"DEALSVC_FCM_ENDPOINT": emulator.fcm_base, "DEALSVC_FCM_PROJECT_ID": PROJECT_ID,
                   "DEALSVC_WORKER_BACKOFF_MAX_S": "1", "DEALSVC_PUSH_BATCH_SIZE": "20"}
            dispatcher = WorkerProcess("dispatcher", proxied, tmp_path / "dispatcher.log", env)
            scheduler = WorkerProcess("scheduler", proxied, tmp_path / "scheduler.log", env)
            workers.extend((dispatcher, scheduler))
            _wait("the dispatcher", lambda: "dispatcher ready" in dispatcher.log(), 30)
            _wait("the scheduler to lead", lambda: "scheduler elected" in scheduler.log(), 30)
            tokens = _seed(container, "pgout", 40)
            time.sleep(0.5)
            dispatcher.new_lines(), scheduler.new_lines()

            proxy.cut()
            offer_id = _post(container)  # posted while the workers cannot reach the database
            time.sleep(4)
            during = {w.kind: w.new_lines() for w in (dispatcher, scheduler)}
            proxy.restore()
            _wait("every push to be sent", lambda: not _open_work(container, offer_id), 30)
            _wait("both workers to say they are back",
                  lambda: all("working again" in w.log() for w in (dispatcher, scheduler)), 30)
            after = {w.kind: w.new_lines() for w in (dispatcher, scheduler)}
            zero, one, more = _figures("PostgreSQL unreachable for 4 s", emulator, tokens)
            assert dispatcher.alive() and scheduler.alive()
    finally:
        for worker in workers:
            worker.kill()
        proxy.close()
        container.close()
    for kind in ("dispatcher", "scheduler"):
        print(f"{kind}: {len(during[kind])} log lines during the 4 s outage, "
              f"{len(_problem_lines(during[kind] + after[kind]))} warning/error lines in all:")
        for line in _problem_lines(during[kind] + after[kind]):
            print(f"  {line[:160]}")
        assert len(during[kind]) <= 2, during[kind]
        problems = _problem_lines(during[kind] + after[kind])
        assert len(problems) == 2, problems  # one when it starts, one when it ends
        assert "database unavailable" in problems[0] and "working again" in problems[1]
    assert (zero, one, more) == (0, len(tokens), 0)


# --- item 8: shutdown in order ------------------------------------------------------------------


def test_gunicorn_with_embedded_workers_stops_in_order_mid_fanout(container, settings, database_url, tmp_path):
    with running_emulator() as emulator:
        tokens = _seed(container, "stop", 120)
        _global_fault(emulator, fault=None, delay_s=0.4)
        port = free_port()
        log_path = tmp_path / "gunicorn.log"
        env = {
            **os.environ, **GENEROUS_RATE_LIMITS_ENV,
            "DEALSVC_DATABASE_URL": database_url, "DEALSVC_ADMIN_TOKEN": ADMIN_TOKEN, "DEALSVC_GEOCODER": "none",
            "DEALSVC_WORKERS": "embedded", "DEALSVC_AUTO_MIGRATE": "0", "DEALSVC_PORT": str(port),
            "DEALSVC_FCM_ENDPOINT": emulator.fcm_base, "DEALSVC_FCM_PROJECT_ID": PROJECT_ID,
            "DEALSVC_PUSH_BATCH_SIZE": "10", "DEALSVC_PUSH_LANES": "2",
        }
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                [str(Path(sys.executable).with_name("gunicorn")), "-w", "1", "-b", f"127.0.0.1:{port}",
                 "--no-control-socket", "--graceful-timeout", "20", "wsgi:app"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        try:
            _wait("gunicorn", lambda: _ready(port), 60, 0.2)
            offer_id = _post(container)
            _wait("the embedded dispatcher to be sending", lambda: len(emulator.store.messages()) >= 20, 60)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        at_stop = len(emulator.store.messages())
        log = log_path.read_text(errors="replace")
        left = _statuses(container, offer_id)
        held = _held(container)
        # The rest is sent by the next dispatcher (this process's): nothing lost, nothing twice.
        _global_fault(emulator, fault=None)
        rest = bootstrap(_with(settings, fcm_endpoint=emulator.fcm_base, fcm_project_id=PROJECT_ID, **FAST))
        try:
            with _dispatching(rest):
                _wait("the rest to be sent", lambda: not _open_work(container, offer_id), 60)
        finally:
            rest.close()
        zero, one, more = _figures(f"gunicorn stopped after {at_stop} pushes", emulator, tokens)
    print(f"left by the stopped service: {dict(left)}")
    assert at_stop < len(tokens), "the fan-out finished before the stop: nothing was tested"
    assert "cannot schedule new futures" not in log, log
    assert "Traceback" not in log, log
    # What was on the wire was recorded, the rest given back: no claim is left holding a push
    # (planned pushes wait as 'sending' in batches nobody has claimed).
    assert held == 0, left
    assert (zero, one, more) == (0, len(tokens), 0)


def _ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False
