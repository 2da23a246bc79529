"""The production shape on PostgreSQL, as the Procfile runs it: `python -m dealsvc migrate`,
gunicorn serving wsgi:app with 4 workers on 127.0.0.1 behind nginx (deploy/nginx/dealsvc.conf),
one `python -m workers.scheduler`, two `python -m workers.dispatcher`, and a standalone FCM
emulator as the push endpoint.

Offers posted through the web tier reach 20,000 residents: each gets exactly one push, both
dispatchers do part of the work, and a dispatcher killed with SIGKILL halfway through a second
rush loses nothing. Slow clients (slowloris) that stop gunicorn alone from answering leave the
service answering through nginx."""
from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import create_engine, func, insert, select

from config import Settings
from dealsvc.adapters.db.models import Notification, Subscriber
from bench.fanout import resident_rows
from tests.support.api import ADMIN_TOKEN

from tests.support.production import BATCH, LANES, RESIDENTS, SHOPS, Shape, production_shape, wait_for


def _seed_residents(url: str) -> None:
    """20,000 residents straight into the database (20,000 sign-ups over HTTP would test the
    rate limits, not the fan-out), each within 800 m of one shop with a 1-2 km radius, signed
    up the day before."""
    rows = resident_rows(SHOPS, RESIDENTS, "prod", datetime.now(timezone.utc) - timedelta(days=1))
    engine = create_engine(url)
    with engine.begin() as conn:
        for start in range(0, RESIDENTS, 5000):
            conn.execute(insert(Subscriber), rows[start : start + 5000])
    engine.dispose()


def _post_offers(shape: Shape, title: str) -> list[str]:
    """One offer per shop, through the web tier (each request may land on any of its 4 workers)."""
    ids = []
    expires = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    for i, (lat, lon) in enumerate(SHOPS):
        merchant = requests.post(shape.web + "/api/v1/merchants",
                                 json={"name": f"Shop {i}", "email": f"{title.split()[0].lower()}{i}@shape.example"}, timeout=10)
        assert merchant.status_code == 201, merchant.text
        auth = {"Authorization": f"Bearer {merchant.json()['api_key']}"}
        shop = requests.post(shape.web + "/api/v1/shops", headers=auth, timeout=10,
                             json={"name": f"Shop {i}", "category": "bakery", "lat": lat, "lon": lon})
        assert shop.status_code == 201, shop.text
        offer = requests.post(shape.web + "/api/v1/offers", headers=auth, timeout=10, json={
            "shop_id": shop.json()["id"], "title": title, "category": "bakery",
            "original_price_cents": 400, "discount_pct": 50, "quantity": 10, "expires_at": expires,
        })
        assert offer.status_code == 201, offer.text
        ids.append(offer.json()["id"])
    return ids


def _received(shape: Shape, title: str) -> Counter:
    """Pushes the emulator accepted for offers titled `title`, per token."""
    items = requests.get(shape.emulator + "/api/messages", timeout=60).json()["items"]
    return Counter(m["token"] for m in items if m["message"].get("data", {}).get("title") == title)


def _rows(url: str, offer_ids: list[str]) -> tuple[Counter, Counter, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        statuses = Counter(dict(conn.execute(
            select(Notification.status, func.count()).where(Notification.offer_id.in_(offer_ids))
            .group_by(Notification.status)).all()))
        by = Counter(dict(conn.execute(
            select(Notification.sent_by, func.count()).where(Notification.offer_id.in_(offer_ids), Notification.status == "sent")
            .group_by(Notification.sent_by)).all()))
        residents = conn.scalar(select(func.count(func.distinct(Notification.subscriber_pk)))
                                .where(Notification.offer_id.in_(offer_ids), Notification.status == "sent"))
    engine.dispose()
    return statuses, by, residents


def _sent(url: str, offer_ids: list[str]) -> int:
    return _rows(url, offer_ids)[0].get("sent", 0)


def test_production_shape_reaches_everyone_once_and_survives_a_dead_dispatcher(pg_url, tmp_path):
    with production_shape(pg_url, tmp_path) as shape:
        _seed_residents(pg_url)
        # The operator tells everyone in reach at once (no stock-sized waves): the rush at full size.
        rules = requests.put(shape.web + "/api/v1/admin/rules", json={"waves_enabled": False}, timeout=10,
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert rules.status_code == 200 and rules.json()["waves_enabled"] is False, rules.text
        dispatchers = [shape.start(f"dispatcher-{i}", [sys.executable, "-m", "workers.dispatcher"]) for i in range(2)]
        pids = {f"{socket.gethostname()}:{d.pid}" for d in dispatchers}

        # A first rush: every resident exactly one push, both dispatchers at work.
        first = _post_offers(shape, "Pane di ieri")
        wait_for("the first rush", lambda: _sent(pg_url, first) >= RESIDENTS, 400, shape.procs)
        statuses, by, residents = _rows(pg_url, first)
        assert statuses == {"sent": RESIDENTS}
        assert residents == RESIDENTS
        assert set(by) <= pids and len(by) == 2, f"pushes per dispatcher: {dict(by)}"
        assert min(by.values()) >= RESIDENTS // 10, f"one dispatcher did almost nothing: {dict(by)}"
        received = _received(shape, "Pane di ieri")
        assert len(received) == RESIDENTS and set(received.values()) == {1}
        print(f"\nfirst rush: pushes per dispatcher {sorted(by.values())}")

        # A second rush, and one dispatcher killed in the middle of it.
        second = _post_offers(shape, "Yogurt")
        wait_for("the second rush to be under way", lambda: _sent(pg_url, second) >= RESIDENTS // 4, 300, shape.procs)
        victim = dispatchers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        shape.procs = [(n, p) for n, p in shape.procs if p is not victim]
        at_kill = _sent(pg_url, second)
        assert at_kill < RESIDENTS, "the rush was over before the kill: nothing was tested"
        wait_for("the survivor to finish the rush", lambda: _sent(pg_url, second) >= RESIDENTS, 400, shape.procs)
        statuses, by, residents = _rows(pg_url, second)
        assert statuses == {"sent": RESIDENTS}, "a push was lost or failed"
        assert residents == RESIDENTS
        received = _received(shape, "Yogurt")
        assert set(received) == {f"prod-token-{i:07d}" for i in range(RESIDENTS)}
        duplicates = sum(received.values()) - RESIDENTS
        print(f"second rush: killed after {at_kill} recorded pushes; {duplicates} sent twice "
              f"(at most {LANES} lanes x {BATCH}); pushes per dispatcher {dict(by)}")
        # What the killed dispatcher held when it died (its lanes' batches) is sent again, at
        # most; the phone shows it once, under the offer's collapse key.
        assert duplicates <= LANES * BATCH

        assert "Traceback" not in shape.log("web"), shape.log("web")[-3000:]
        assert "Traceback" not in shape.log("dispatcher-1"), shape.log("dispatcher-1")[-3000:]
        assert "Traceback" not in shape.log("scheduler"), shape.log("scheduler")[-3000:]


# --- slow clients ---------------------------------------------------------------------------

SLOW_CLIENTS = 128  # gunicorn has 4 workers x 4 threads; 20 were enough to stop it in the attack
PROBES = 5
PROBE_TIMEOUT_S = 2.0


class Slowloris:
    """Connections that send a request's headers a byte every half second and never finish
    them: `count` at first, one at a time, then GROWTH more every half second, as an attacker
    keeps coming (a server process that starts accepting late gets its share too); one that the
    server closes is opened again, so the pressure stays."""

    GROWTH = 8

    def __init__(self, port: int, count: int):
        self.port = port
        self.socks: list[socket.socket] = []
        self.reopened = 0
        for _ in range(count):
            self.socks.append(self._open())
            time.sleep(0.01)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: dealsvc\r\nX-Slow: ")
        return sock

    def _drip(self) -> None:
        while not self._stop.wait(0.5):
            for i, sock in enumerate(self.socks):
                try:
                    sock.send(b"a")
                except OSError:
                    sock.close()
                    self.reopened += 1
                    try:
                        self.socks[i] = self._open()
                    except OSError:
                        pass
            for _ in range(self.GROWTH):
                try:
                    self.socks.append(self._open())
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.socks:
            sock.close()


def _probe_healthz(base: str) -> list[float | None]:
    """GET /healthz on a fresh connection, PROBES times, a second apart: seconds to answer, or
    None when no answer came within PROBE_TIMEOUT_S."""
    took: list[float | None] = []
    for _ in range(PROBES):
        started = time.monotonic()
        try:
            ok = requests.get(base + "/healthz", timeout=PROBE_TIMEOUT_S).status_code == 200
            took.append(time.monotonic() - started if ok else None)
        except requests.RequestException:
            took.append(None)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    return took


def _figures(took: list[float | None]) -> str:
    answered = [t for t in took if t is not None]
    slowest = f", slowest {max(answered) * 1000:.0f} ms" if answered else ""
    return f"{len(answered)}/{len(took)} /healthz answered within {PROBE_TIMEOUT_S:.0f} s{slowest}"


# Timing against processes of its own (the attack must stop gunicorn alone from answering within
# 2 s): apart from the parallel part, where in one clean-clone run the drip of 264 slow
# connections, slowed by the load around it, let gunicorn answer two probes of five.
@pytest.mark.serial
def test_nginx_keeps_the_service_answering_under_a_slowloris_that_stops_gunicorn_alone(pg_url, tmp_path):
    with production_shape(pg_url, tmp_path) as shape:
        assert _probe_healthz(shape.web)[-1] is not None

        attack = Slowloris(int(shape.gunicorn.rsplit(":", 1)[1]), SLOW_CLIENTS)
        try:
            time.sleep(1)
            alone = _probe_healthz(shape.gunicorn)
        finally:
            attack.close()
        alone_slow = len(attack.socks)
        # gunicorn gets its threads back once the slow clients are gone.
        wait_for("gunicorn to answer again", lambda: requests.get(shape.gunicorn + "/healthz", timeout=2).ok, 30, shape.procs)

        attack = Slowloris(int(shape.web.rsplit(":", 1)[1]), SLOW_CLIENTS)
        try:
            time.sleep(1)
            proxied = _probe_healthz(shape.web)
            # An API call goes through too, not only the health check.
            rules = requests.get(shape.web + "/api/v1/admin/rules", timeout=PROBE_TIMEOUT_S,
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        finally:
            attack.close()
        proxied_slow = len(attack.socks)

        print(f"\nslowloris, {SLOW_CLIENTS} connections then {Slowloris.GROWTH * 2} more a second: "
              f"gunicorn alone ({alone_slow} slow connections): {_figures(alone)}; "
              f"through nginx ({proxied_slow}): {_figures(proxied)}")
        # A worker that happens to hold none of the slow connections yet may answer one probe.
        assert sum(t is not None for t in alone) <= 1, "gunicorn alone kept answering: the attack did not bite, nothing was tested"
        assert all(t is not None and t < 1.0 for t in proxied), _figures(proxied)
        assert rules.status_code == 200, rules.text

        # The largest body the service accepts passes nginx; one byte more is refused there
        # with the service's 413 problem (deploy/nginx/dealsvc.conf and DEALSVC_MAX_REQUEST_BYTES agree).
        limit = Settings.from_env({}).max_request_bytes
        headers = {"Content-Type": "application/json"}
        at_limit = requests.post(shape.web + "/api/v1/subscribers", data=b" " * limit, headers=headers, timeout=10)
        over = requests.post(shape.web + "/api/v1/subscribers", data=b" " * (limit + 1), headers=headers, timeout=10)
        assert at_limit.status_code == 400, at_limit.text  # reached the service, which found no JSON
        assert over.status_code == 413 and over.headers["Content-Type"] == "application/problem+json", over.text
        assert over.json()["status"] == 413 and str(limit) in over.json()["detail"]
        # nginx's own answers carry the service's security headers too.
        assert over.headers["X-Content-Type-Options"] == "nosniff" and over.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in over.headers["Content-Security-Policy"]
        # A request line of 6 KB reaches the service (gunicorn's own limit is nginx's); one or a
        # header beyond nginx's 8 KB buffers is refused there, in the service's format.
        deals = shape.web + "/api/v1/deals?lat=45.4642&lon=9.19&radius_m=1000&category="
        served = requests.get(deals + "x" * 6000, timeout=10)
        too_long = requests.get(deals + "x" * 9000, timeout=10)
        too_large = requests.get(shape.web + "/healthz", headers={"X-Note": "x" * 9000}, timeout=10)
        # Just under nginx's 8 KB a header, which then appends the client's address to it.
        forwarded = requests.get(shape.web + "/healthz", headers={"X-Forwarded-For": ("10.0.0.1, " * 817)[:8165]},
                                 timeout=10)
        assert served.status_code == 400 and served.json()["errors"].keys() == {"category"}, served.text
        assert forwarded.status_code == 200, forwarded.text
        for answer, status in ((too_long, 414), (too_large, 431)):
            assert answer.status_code == status and answer.headers["Content-Type"] == "application/problem+json", answer.text
            assert answer.json()["status"] == status and answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "Traceback" not in shape.log("web"), shape.log("web")[-3000:]
