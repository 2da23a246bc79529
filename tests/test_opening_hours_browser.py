"""Opening hours on /shop/ in Debian's Chromium: hours that do not parse are refused by the
field, the page says until when the shop is open, an "Until" past closing time is warned about
as it is typed and cut to closing time unless "keep my time" is ticked. The service's clock is
the test's: a Saturday at 19:00 in Milan, the shop closing at 19:30."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import expect

from dealsvc.bootstrap import bootstrap
from tests.conftest import _empty
from tests.test_browser import (  # noqa: F401  (fixtures)
    SHOP, browser, context, fill_offer, live, screenshot, settings, sign_in,
)
from tests.test_push_pipeline import FakeClock

ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def container(settings):
    clock = FakeClock()
    clock.now = datetime(2026, 12, 5, 19, 0, tzinfo=ROME).astimezone(timezone.utc)  # a Saturday
    c = bootstrap(settings, clock=clock)
    _empty(c)
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
