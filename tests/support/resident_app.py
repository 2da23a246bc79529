"""The residents' web app in a browser: a phone's context, joining with a pin, posting an offer for it to show."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from tests.support.browser import PHONE, WAIT_MS, browser, live

HOME = (45.4660, 9.1900)  # 200 m north of the shop


def phone(browser, live, outside: list[str], **extra):
    """A phone-sized context that records every request to another origin (the pages' and the
    service worker's)."""
    ctx = browser.new_context(viewport=PHONE, timezone_id="Europe/Rome", locale="en-GB", **extra)
    ctx.on("request", lambda req: None if req.url.startswith(live.url) else outside.append(req.url))
    return ctx


def post_offer(live, key: str, shop: dict, title: str = "Focaccia della sera", quantity: int = 4) -> dict:
    expires = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat(timespec="seconds")
    return live.post("/api/v1/offers", {
        "shop_id": shop["id"], "title": title, "category": "bakery", "original_price_cents": 600,
        "discount_pct": 50, "quantity": quantity, "expires_at": expires,
    }, key)


def stored_resident(page) -> dict:
    return page.evaluate("JSON.parse(localStorage.getItem('dealsvc.resident'))")


def join_with_pin(page, live, quiet_hours: bool = True) -> dict:
    page.goto(live.url + "/app/join")
    expect(page.get_by_role("heading", name="Deals from the shops near you")).to_be_visible()
    page.get_by_role("button", name="Use my location").click()
    expect(page.locator("#place-status")).to_have_text("Found your location.", timeout=WAIT_MS)
    # The pin where the resident taps: the middle of the map (where the location put it).
    page.locator("#map").click()
    expect(page.locator("#place-status")).to_contain_text("Pin placed at")
    page.get_by_label("bakery").check()
    if quiet_hours:
        page.get_by_label("From").fill("22:00")
        page.get_by_label("To").fill("07:00")
    page.get_by_label("At most, alerts a day").fill("3")
    page.get_by_label("I have read the privacy notice and accept it").check()
    page.get_by_role("button", name="Join and turn on alerts").click()
    page.wait_for_url(re.compile(r"/app/\?joined=1$"), timeout=WAIT_MS)
    return stored_resident(page)


def joined_phone(browser, live, outside: list[str]):
    """A phone at HOME that may locate itself and show notifications, its resident joined with a
    pin and no quiet hours: (context, page, the resident as the app stored it)."""
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]},
                permissions=["geolocation", "notifications"])
    page = ctx.new_page()
    return ctx, page, join_with_pin(page, live, quiet_hours=False)


NOTIFICATIONS_JS = """async () => {
  const r = await navigator.serviceWorker.ready;
  return (await r.getNotifications()).map(n => ({title: n.title, body: n.body, tag: n.tag, data: n.data}));
}"""


def wait_for(page, predicate, what: str, timeout_s: float = WAIT_MS / 1000):
    """Poll `predicate`; the page's wait lets Playwright deliver the CDP events meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}")


def notifications(page) -> list[dict]:
    return page.evaluate(NOTIFICATIONS_JS)
