"""The built-in emulator's channel to an open web app: a token for the app, and every push the
dispatcher sent it through firebase-admin, as a browser's service worker receives it from FCM.
The service runs on a real HTTP port with the emulator built in (as in `make run`)."""
from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from gunicorn.config import Config as GunicornConfig
from werkzeug.serving import make_server

from dealsvc.access_log import AccessLogger
from dealsvc.app import create_app
from dealsvc.bootstrap import bootstrap
from dealsvc.domain import delivery
from dealsvc.emulator import EmulatorStore
from dealsvc.emulator.store import prefix_fault
from tests.support.api import empty_database
from tests.fakes.fcm_emulator import running_emulator
from tests.support.push import FakeClock
from tests.support.http_servers import serve_on_thread

SHOP = (45.4642, 9.1900)
NEAR = (45.4660, 9.1900)  # 200 m from the shop
PUBLIC = "https://deals.example.org"
FCM_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}:APA91b[A-Za-z0-9_-]{100,}")


@dataclass
class Live:
    url: str
    container: object
    store: EmulatorStore
    clock: FakeClock

    def post(self, path: str, json: dict | None = None, secret: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return requests.post(self.url + path, json=json, headers=headers, timeout=10)

    def get(self, path: str, **params) -> requests.Response:
        return requests.get(self.url + path, params=params, timeout=10)

    def web_client(self) -> str:
        r = self.post("/emulator/api/web-clients")
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def messages(self, token: str, **params) -> list[dict]:
        r = self.get(f"/emulator/api/web-clients/{token}/messages", **params)
        assert r.status_code == 200, r.text
        return r.json()["messages"]

    def drain(self) -> None:
        for _ in range(50):
            if not self.container.dispatcher.run_once():
                return
        raise AssertionError("the dispatcher did not settle")


@pytest.fixture
def live(settings):
    """The service with its built-in emulator, listening on 127.0.0.1; pushes go to that emulator."""
    handler: dict = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: handler["app"](environ, start), threaded=True)
    clock = FakeClock()
    container = bootstrap(
        settings.with_(emulator="on", host="127.0.0.1", port=server.port, public_url=PUBLIC), clock=clock
    )
    empty_database(container)
    app = create_app(container=container)
    handler["app"] = app
    thread = serve_on_thread(server, "live-server")
    try:
        yield Live(f"http://127.0.0.1:{server.port}", container, app.extensions["fcm-emulator"], clock)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        container.close()


def _shop_and_offer(live: Live, **extra) -> tuple[str, dict]:
    merchant = live.post("/api/v1/merchants", {"name": "Forno Rossi", "email": f"{secrets.token_hex(4)}@shop.example"}).json()
    key = merchant["api_key"]
    shop = live.post("/api/v1/shops", {"name": "Forno Rossi", "category": "bakery", "lat": SHOP[0], "lon": SHOP[1]}, key)
    assert shop.status_code == 201, shop.text
    body = {
        "shop_id": shop.json()["id"], "title": "Pane di ieri", "category": "bakery", "original_price_cents": 400,
        "discount_pct": 50, "quantity": 5, "expires_at": (live.clock.now + timedelta(hours=2)).isoformat(), **extra,
    }
    offer = live.post("/api/v1/offers", body, key)
    assert offer.status_code == 201, offer.text
    return key, offer.json()


def _resident(live: Live, token: str, locale: str) -> dict:
    r = live.post("/api/v1/subscribers", {"fcm_token": token, "lat": NEAR[0], "lon": NEAR[1], "locale": locale})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_web_client_gets_a_new_fcm_like_token_each_time(live):
    tokens = {live.web_client() for _ in range(3)}
    assert len(tokens) == 3
    for token in tokens:
        assert FCM_TOKEN.fullmatch(token), token
        assert prefix_fault(token) is None  # never one the emulator would answer with a fault
        assert live.messages(token) == []  # known to nobody yet: nothing, not an error


def test_the_dispatchers_push_reaches_the_web_client_as_a_service_worker_receives_it(live):
    token = live.web_client()
    other = live.web_client()
    _resident(live, token, "en")
    assert live.messages(token) == []  # the app polls before its first push
    key, offer = _shop_and_offer(live)
    live.drain()

    [message] = live.messages(token)
    [received] = live.store.messages(token)  # what firebase-admin sent the emulator
    payload = message["payload"]
    assert message["seq"] == received.seq
    tag = f"offer-{offer['id']}"
    assert payload["notification"] == {
        "title": "-50% Pane di ieri at Forno Rossi",
        "body": received.message["notification"]["body"],
        "tag": tag,
    }
    assert "200 m away" in payload["notification"]["body"]
    assert payload["data"] == received.message["data"]
    assert payload["data"]["offer_id"] == offer["id"] and payload["data"]["type"] == "offer"
    assert payload["fcmOptions"] == {"link": f"{PUBLIC}/app/offers/{offer['id']}"}
    assert payload["collapse_key"] == delivery.web_topic(tag) == received.message["webpush"]["headers"]["Topic"]
    assert payload["fcmMessageId"] == received.id and received.name.endswith("/" + received.id)
    assert re.fullmatch(r"[0-9]{12}", payload["from"])
    assert live.messages(other) == []  # another app's token got nothing


def test_after_returns_only_what_came_later(live):
    token = live.web_client()
    _resident(live, token, "en")
    key, first = _shop_and_offer(live)
    live.drain()
    [one] = live.messages(token)
    _, second = _shop_and_offer(live, title="Focaccia")
    live.drain()

    both = live.messages(token)
    assert [m["payload"]["data"]["offer_id"] for m in both] == [first["id"], second["id"]]
    assert both[0] == one and both[0]["seq"] < both[1]["seq"]
    assert live.messages(token, after=0) == both
    assert live.messages(token, after=one["seq"]) == [both[1]]
    assert live.messages(token, after=both[1]["seq"]) == []
    # Forgetting the emulator's messages never hands out a seq a client has seen.
    assert requests.delete(live.url + "/emulator/api/messages", timeout=10).status_code == 204
    assert live.messages(token) == []


@pytest.fixture(scope="module")
def emulator():
    with running_emulator() as running:
        yield running


@pytest.mark.parametrize("after", ["-1", "x", "1.5", "", "١", "9" * 40])
def test_an_invalid_after_is_a_400_problem(emulator, after):
    token = requests.post(f"{emulator.root}/api/web-clients", timeout=10).json()["token"]
    r = requests.get(f"{emulator.root}/api/web-clients/{token}/messages", params={"after": after}, timeout=10)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["status"] == 400 and "after" in r.json()["errors"]


@pytest.mark.parametrize(
    ("locale", "how", "gone", "reason"),
    [
        ("it", "cancelled", "Pane di ieri da Forno Rossi: non più disponibile", "Ritirata dal negozio."),
        ("en", "sold_out", "Pane di ieri at Forno Rossi: no longer available", "Sold out."),
    ],
)
def test_a_withdrawal_replaces_the_alert_under_its_tag_with_gone_words(live, locale, how, gone, reason):
    token = live.web_client()
    resident = _resident(live, token, locale)
    key, offer = _shop_and_offer(live, quantity=1)
    live.drain()
    [alert] = live.messages(token)
    if how == "cancelled":
        r = requests.patch(f"{live.url}/api/v1/offers/{offer['id']}", json={"status": "cancelled"},
                           headers={"Authorization": f"Bearer {key}"}, timeout=10)
    else:
        r = live.post(f"/api/v1/offers/{offer['id']}/reservations", {"quantity": 1}, resident["secret"])
    assert r.status_code in (200, 201), r.text
    live.drain()

    [withdrawal] = live.messages(token, after=alert["seq"])
    payload = withdrawal["payload"]
    assert payload["notification"]["tag"] == alert["payload"]["notification"]["tag"] == f"offer-{offer['id']}"
    assert payload["collapse_key"] == alert["payload"]["collapse_key"]
    assert payload["notification"]["title"] == gone
    assert payload["notification"]["body"] == reason
    assert payload["data"]["type"] == "withdrawn" and payload["data"]["status"] == how
    assert payload["data"]["locale"] == locale
    assert payload["fcmOptions"] == alert["payload"]["fcmOptions"]


def test_a_web_clients_token_stays_out_of_the_access_logs(emulator, caplog):
    """Its token is in the path: neither the standalone emulator's log (werkzeug) nor gunicorn's
    (`make run`, production) writes it."""
    caplog.set_level(logging.INFO, logger="werkzeug")
    token = requests.post(f"{emulator.root}/api/web-clients", timeout=10).json()["token"]
    assert requests.get(f"{emulator.root}/api/web-clients/{token}/messages", params={"after": 3}, timeout=10).ok
    deadline = time.monotonic() + 5
    while "/messages" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)  # the server thread logs after answering
    assert "GET /emulator/api/web-clients/…/messages?… HTTP/1.1" in caplog.text
    assert token.split(":")[0] not in caplog.text

    logger = AccessLogger(GunicornConfig())
    path = f"/emulator/api/web-clients/{token}/messages"
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"{path}?after=3", "SERVER_PROTOCOL": "HTTP/1.1",
               "PATH_INFO": path, "QUERY_STRING": "after=3"}
    response = SimpleNamespace(status="200 OK", sent=15, headers=[])
    atoms = logger.atoms(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    assert atoms["U"] == "/emulator/api/web-clients/…/messages"
    assert atoms["r"] == "GET /emulator/api/web-clients/…/messages?… HTTP/1.1"


def test_the_messages_answer_names_the_emulators_run(emulator):
    """Seqs start again at 1 when the emulator restarts: the answer names its run (instance), so a
    web app that kept a seq from an earlier run knows to ask again from 0."""
    token = requests.post(f"{emulator.root}/api/web-clients", timeout=10).json()["token"]
    first = requests.get(f"{emulator.root}/api/web-clients/{token}/messages", timeout=10).json()
    again = requests.get(f"{emulator.root}/api/web-clients/{token}/messages", params={"after": 5}, timeout=10).json()
    assert re.fullmatch(r"[0-9a-f]{16}", first["instance"]) and again["instance"] == first["instance"]
    assert EmulatorStore().instance != EmulatorStore().instance
