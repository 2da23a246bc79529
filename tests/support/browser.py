"""Browser tests: the service on a thread with its workers, Debian's Chromium through Playwright, the pages' common steps."""
from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path

import firebase_admin
import pytest
import requests
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from config import Settings
from dealsvc.app import create_app
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS
from tests.support.http_servers import serve_on_thread
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SHOP = (45.4642, 9.1900)  # Milan, by the Duomo
WAIT_MS = 15_000


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    """The conftest settings on a port of their own: the dispatcher pushes to this server's emulator.
    (Rate limits generous: a test seeds 30 residents, enough for a merchant's figures to show.)"""
    return Settings(
        database_url=database_url, admin_token=ADMIN_TOKEN, var_dir=tmp_path, geocoder="none",
        host="127.0.0.1", port=free_port(), **GENEROUS_RATE_LIMITS,
    )


class Live:
    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()

    def post(self, path: str, body: dict, secret: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        r = self.http.post(self.url + path, json=body, headers=headers, timeout=10)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def put_rules(self, **changes) -> None:
        r = self.http.put(self.url + "/api/v1/admin/rules", json=changes,
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
        assert r.status_code == 200, r.text

    def received(self, token: str) -> list[dict]:
        return self.http.get(self.url + "/emulator/api/messages", params={"token": token}, timeout=10).json()["items"]


@pytest.fixture
def live(container, settings):
    """The whole service in this process: werkzeug on a thread, embedded dispatcher and scheduler, the emulator."""
    app = create_app(container=container, start_workers=True)
    server = make_server(settings.host, settings.port, app, threaded=True)
    thread = serve_on_thread(server, "live-server")
    try:
        yield Live(f"http://{settings.host}:{settings.port}")
    finally:
        server.shutdown()
        thread.join(10)
        app.extensions["dealsvc-workers"].shutdown()


@contextmanager
def _firebase_closed_on_a_thread_of_its_own():
    """firebase-admin's close runs `asyncio.run`, which asyncio refuses in a thread where an
    event loop runs: Playwright's, while a module's Chromium is up. A container closed meanwhile
    (each test's) closes firebase-admin on a thread of its own."""
    original = firebase_admin.delete_app

    def delete_app(app):
        failure: list[BaseException] = []

        def close():
            try:
                original(app)
            except BaseException as error:  # re-raised in the caller's thread
                failure.append(error)

        thread = threading.Thread(target=close, name="firebase-close")
        thread.start()
        thread.join()
        if failure:
            raise failure[0]

    firebase_admin.delete_app = delete_app
    try:
        yield
    finally:
        firebase_admin.delete_app = original


@contextmanager
def launched_chromium():
    """Playwright's driver and Chromium, up as long as the block lasts (the `chromium` fixture:
    one for a test module)."""
    with _firebase_closed_on_a_thread_of_its_own(), sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def browser(chromium, live):
    # The module's Chromium, after the server is up; what the test left open closes before the
    # server stops.
    yield chromium
    for ctx in list(chromium.contexts):
        ctx.close()


@pytest.fixture
def context(browser, live):
    ctx = browser.new_context(viewport=PHONE, timezone_id="Europe/Rome", locale="en-GB")
    outside: list[str] = []
    # Nothing may come from anywhere but the service itself (no CDN, no fonts, no analytics).
    ctx.on("request", lambda req: None if req.url.startswith(live.url) else outside.append(req.url))
    yield ctx
    ctx.close()
    assert outside == []


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(PHONE)


def merchant_with_shop(live: Live, name: str = "Forno Rossi") -> tuple[str, dict]:
    key = live.post("/api/v1/merchants", {"name": name, "email": f"{name.split()[0].lower()}@shop.example"})["api_key"]
    shop = live.post("/api/v1/shops", {"name": name, "category": "bakery", "lat": SHOP[0], "lon": SHOP[1]}, key)
    return key, shop


def phones(live: Live) -> None:
    # 200 m from the shop, reaching 1 km; and 3 km away, reaching 1 km: too far.
    live.post("/api/v1/subscribers", {"fcm_token": "phone-near", "lat": 45.4660, "lon": 9.1900, "radius_m": 1000})
    live.post("/api/v1/subscribers", {"fcm_token": "phone-far", "lat": 45.4912, "lon": 9.1900, "radius_m": 1000})


def sign_in(page, live: Live, path: str, secret: str) -> None:
    page.goto(live.url + path)
    page.get_by_label(re.compile("API key|Operator token")).fill(secret)
    page.get_by_role("button", name="Sign in").click()


def fill_offer(page, title: str = "Pane di ieri", price: str = "4.00", discount: str = "50") -> None:
    page.get_by_label("What").fill(title)
    page.get_by_label("Normal price (€)").fill(price)
    page.locator("#discount_pct").fill(discount)
    page.get_by_label("How many").fill("6")


DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


def docs_shot(page, name: str, selector: str | None = None) -> None:
    """A screenshot the docs show, of the page or of what `selector` finds: written over
    docs/screenshots/ by `make screenshots` (DEALSVC_TEST_DOCS_SCREENSHOTS=1), else beside the
    others in artifacts/screenshots/, so that a test run leaves the working tree as it was."""
    folder = DOCS_SCREENSHOTS if os.environ.get("DEALSVC_TEST_DOCS_SCREENSHOTS") == "1" else SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    if selector is None:
        page.screenshot(path=str(folder / name), full_page=True)
    else:
        page.locator(selector).screenshot(path=str(folder / name))
