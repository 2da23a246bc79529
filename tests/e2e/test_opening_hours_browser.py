"""Opening hours on /shop/ in Debian's Chromium: hours that do not parse are refused by the
field, the page says until when the shop is open, an "Until" past closing time is warned about
as it is typed and cut to closing time unless "keep my time" is ticked. The service's clock is
the test's: a Saturday at 19:00 in Milan, the shop closing at 19:30."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import expect

from dealsvc.bootstrap import bootstrap
from tests.support.api import empty_database
from tests.support.browser import (  # noqa: F401 (fixtures)
    PHONE, SHOP, WAIT_MS, browser, context, fill_offer, live, screenshot, settings, sign_in,
)
from tests.support.resident_app import HOME, join_with_pin
from tests.support.push import FakeClock

ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def container(settings):
    clock = FakeClock()
    clock.now = datetime(2026, 12, 5, 19, 0, tzinfo=ROME).astimezone(timezone.utc)  # a Saturday
    c = bootstrap(settings, clock=clock)
    empty_database(c)
    yield c
    c.close()


def test_the_shop_page_warns_of_an_offer_past_closing_time_and_cuts_it_unless_kept(context, live):
    key = live.post("/api/v1/merchants", {"name": "Forno Rossi", "email": "forno@shop.example"})["api_key"]
    shop = live.post("/api/v1/shops", {"name": "Forno Rossi", "category": "bakery", "lat": SHOP[0], "lon": SHOP[1]}, key)
    page = context.new_page()
    sign_in(page, live, "/shop/", key)
    expect(page.locator("#hours-now")).to_contain_text("No opening hours yet")
    expect(page.locator("#closing")).to_have_count(0)  # nothing to warn of without hours

    page.locator("#opening_hours").fill("Mo-Sa 7-19")
    page.get_by_role("button", name="Save hours").click()
    expect(page.locator("#opening_hours-error")).to_contain_text("look near character 7")
    expect(page.locator("#opening_hours")).to_have_attribute("aria-invalid", "true")
    page.locator("#opening_hours").fill("Mo-Sa 07:00-19:30; Su off")
    page.get_by_role("button", name="Save hours").click()
    expect(page.locator(".flash")).to_contain_text("Opening hours of “Forno Rossi” saved.")
    expect(page.locator("#hours-now")).to_have_text("Open now, until 19:30.")

    # The form's first "Until" is two hours ahead (21:00): past closing, warned at once.
    expect(page.locator("#expires_at")).to_have_value("2026-12-05T21:00")
    warning = page.locator("#closing-warning")
    expect(warning).to_be_visible()
    expect(warning).to_have_text("The shop closes at 19:30: an offer until later is cut to 19:30.")
    page.locator("#expires_at").fill("2026-12-05T19:15")
    expect(warning).to_be_hidden()
    page.locator("#expires_at").fill("2026-12-05T20:30")
    expect(warning).to_be_visible()
    screenshot(page, "shop-closing-warning")

    fill_offer(page)
    page.get_by_role("button", name="Post offer").click()
    expect(page.locator(".flash")).to_contain_text("It ends at 19:30, when the shop closes.")

    fill_offer(page, title="Focaccia")
    page.locator("#expires_at").fill("2026-12-05T20:30")
    page.get_by_label("Keep my time (the shop stays open later today)").check()
    page.get_by_role("button", name="Post offer").click()
    latest = page.locator(".flash p").last
    expect(latest).to_have_text("Posted “Focaccia” at 50 % off; the residents nearby are being told.")

    offers = requests.get(live.url + "/api/v1/offers", params={"shop_id": shop["id"]},
                          headers={"Authorization": f"Bearer {key}"}, timeout=10).json()["items"]
    assert {o["title"]: o["expires_at"] for o in offers} == {
        "Pane di ieri": "2026-12-05T18:30:00Z", "Focaccia": "2026-12-05T19:30:00Z",
    }


def test_the_web_app_says_until_when_a_shop_is_open_or_when_it_opens(browser, live):
    key = live.post("/api/v1/merchants", {"name": "Forno Rossi", "email": "forno@shop.example"})["api_key"]
    bakery = live.post("/api/v1/shops", {"name": "Forno Rossi", "category": "bakery", "lat": SHOP[0], "lon": SHOP[1],
                                         "opening_hours": "Mo-Sa 07:00-19:30; Su off"}, key)
    market = live.post("/api/v1/shops", {"name": "Mercato della domenica", "category": "bakery", "lat": SHOP[0],
                                         "lon": SHOP[1], "opening_hours": "Su 10:00-12:00"}, key)
    open_offer = live.post("/api/v1/offers", {
        "shop_id": bakery["id"], "title": "Pane di ieri", "category": "bakery", "original_price_cents": 400,
        "discount_pct": 50, "quantity": 4, "expires_at": "2026-12-05T19:25:00+01:00"}, key)
    live.post("/api/v1/offers", {
        "shop_id": market["id"], "title": "Torta", "category": "bakery", "original_price_cents": 1000,
        "discount_pct": 50, "quantity": 2, "expires_at": "2026-12-06T11:30:00+01:00"}, key)

    ctx = browser.new_context(viewport=PHONE, timezone_id="Europe/Rome", locale="en-GB",
                              geolocation={"latitude": HOME[0], "longitude": HOME[1]}, permissions=["geolocation"])
    page = ctx.new_page()
    page.clock.set_fixed_time(datetime(2026, 12, 5, 19, 0, tzinfo=ROME))  # the service's clock too
    join_with_pin(page, live, quiet_hours=False)
    page.goto(live.url + "/app/")
    items = page.locator("#offers li")
    expect(items).to_have_count(2, timeout=WAIT_MS)
    expect(items.filter(has_text="Pane di ieri").locator(".o-hours")).to_have_text(re.compile(r"^Open until (07:30\sPM|19:30)$"))
    closed = items.filter(has_text="Torta").locator(".o-hours")
    expect(closed).to_have_text(re.compile(r"^Closed now, opens Sun,? 10:00"))
    expect(closed).to_have_class(re.compile(r"\bclosed\b"))
    screenshot(page, "app-opening-hours")

    page.goto(f"{live.url}/app/offers/{open_offer['id']}")
    expect(page.locator("#shop-hours")).to_have_text(re.compile(r"^Open until (07:30\sPM|19:30)$"), timeout=WAIT_MS)
    ctx.close()
