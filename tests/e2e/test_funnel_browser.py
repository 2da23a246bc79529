"""What alerts earned, in Chromium: a resident taps an alert (the service worker's click handler,
run inside the worker) and the service keeps it opened; they reserve; the shopkeeper's page shows
the funnel (chart and table, coarse) and its CSV; the operator's console draws the last day's
charts from its table. Screenshots for the README."""
from __future__ import annotations

import re

import requests
from playwright.sync_api import expect
from sqlalchemy import select

from dealsvc.adapters.db.models import Notification
from dealsvc.domain import privacy
from tests.support.api import ADMIN_TOKEN
from tests.support.browser import (  # noqa: F401 (fixtures)
    DESKTOP, PHONE, SHOP, WAIT_MS, browser, live, merchant_with_shop, settings, sign_in,
)
from tests.support.browser import docs_shot
from tests.support.resident_app import joined_phone, post_offer
from tests.support.resident_app import notifications, wait_for

TAP_JS = """async () => {
  const shown = await self.registration.getNotifications();
  await tapped(shown[0].data);  // what the worker's notificationclick does with the tapped alert
  return shown[0].data;
}"""


def _neighbours(live, n: int) -> list[dict]:
    """Residents around the shop through the API (enough for a merchant's figures to show)."""
    found = []
    for i in range(n):
        token = f"funnel-near-{i}"
        body = {"fcm_token": token, "lat": SHOP[0] + 0.0005 + i * 0.00001, "lon": SHOP[1], "radius_m": 1000}
        found.append({**live.post("/api/v1/subscribers", body), "token": token})
    return found


def _error(errors: list[str], message) -> None:
    """A console error of the page (the browser's own ask for /favicon.ico, which no page names, aside)."""
    if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
        errors.append(f"{message.text} {message.location.get('url')}")


def _opened_at(container, notification_id: str):
    with container.db.read() as s:
        return s.scalar(select(Notification.opened_at).where(Notification.id == int(notification_id)))


def test_a_tapped_alert_counts_as_opened_and_the_shop_sees_its_funnel(browser, live, container):
    outside: list[str] = []
    ctx, page, me = joined_phone(browser, live, outside)
    others = _neighbours(live, 26)
    key, shop = merchant_with_shop(live)
    offer = post_offer(live, key, shop, title="Focaccia della sera", quantity=40)
    wait_for(page, lambda: notifications(page), "the alert")
    # The others open theirs from a native app (the same API), and 22 of them reserve.
    for resident in others:
        data = wait_for(page, lambda: [m["message"]["data"] for m in live.received(resident["token"])], "a neighbour's push")[0]
        r = requests.post(f"{live.url}/api/v1/notifications/{data['notification_id']}/opened",
                          headers={"Authorization": f"Bearer {resident['secret']}"}, timeout=10)
        assert r.status_code == 204, r.text
    for resident in others[:22]:
        live.post(f"/api/v1/offers/{offer['id']}/reservations", {"quantity": 1}, resident["secret"])

    # The resident taps the alert: the worker opens the offer and reports the tap.
    worker = ctx.service_workers[0] if ctx.service_workers else ctx.wait_for_event("serviceworker")
    data = worker.evaluate(TAP_JS)
    assert data["offer_id"] == offer["id"] and data["notification_id"]
    assert _opened_at(container, data["notification_id"]) is not None
    expect(page).to_have_url(f"{live.url}/app/offers/{offer['id']}", timeout=WAIT_MS)
    page.get_by_role("button", name="Reserve and pick up at the shop").click()
    expect(page.locator("#pickup-code")).to_have_text(re.compile(r"\S+"), timeout=WAIT_MS)
    # Tapped again: nothing changes (the first report is kept).
    first = _opened_at(container, data["notification_id"])
    worker.evaluate(TAP_JS)
    assert _opened_at(container, data["notification_id"]) == first
    ctx.close()
    assert outside == []

    offers, exact = container.funnel.exact(shop["id"])
    assert exact.offers[offer["id"]].as_dict() == {"told": 27, "opened": 27, "reserved": 23, "collected": 0}
    assert exact.rings["0-250"].as_dict() == {"told": 27, "opened": 27, "reserved": 23, "collected": 0}

    # The shopkeeper's page: the funnel's chart, drawn from its table, and the table in words.
    shop_ctx = browser.new_context(viewport=PHONE, timezone_id="Europe/Rome", locale="en-GB")
    shop_page = shop_ctx.new_page()
    errors: list[str] = []
    shop_page.on("console", lambda m: _error(errors, m))
    shop_page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(shop_page, live, "/shop/", key)
    expect(shop_page.get_by_role("heading", name="Results of your alerts")).to_be_visible(timeout=WAIT_MS)
    expect(shop_page.locator("#funnel-chart")).to_have_attribute("data-drawn", "true", timeout=WAIT_MS)
    secret = container.funnel.secret

    def shown(count: int) -> str:
        value = privacy.coarse(count, secret, f"shop:{shop['id']}")
        return f"about {value}" if value else f"fewer than {privacy.FEW}"

    row = shop_page.locator(f"#funnel-{offer['id']}")
    expect(row.locator("th")).to_have_text("Focaccia della sera")
    expect(row.locator("td")).to_have_text([shown(27), shown(27), shown(23), shown(0)])
    assert shown(27) != f"fewer than {privacy.FEW}"
    ring = shop_page.locator("#funnel-rings tbody tr").first
    expect(ring.locator("th")).to_have_text("0 m to 250 m")
    expect(ring.locator("td")).to_have_text([shown(27), shown(27), shown(23), shown(0)])
    chart = shop_page.evaluate("""() => { const c = document.getElementById('funnel-chart').chart;
        return {labels: c.data.labels, series: c.data.datasets.map(d => [d.label, d.data])}; }""")
    value = lambda n: privacy.coarse(n, secret, f"shop:{shop['id']}")  # noqa: E731
    assert chart == {"labels": ["Focaccia della sera"],
                     "series": [["Told", [value(27)]], ["Opened", [value(27)]], ["Reserved", [value(23)]], ["Collected", [0]]]}
    shop_page.locator("#funnel").scroll_into_view_if_needed()
    docs_shot(shop_page, "shop-funnel-phone.png", "#funnel")
    with shop_page.expect_download() as download:
        shop_page.get_by_role("link", name="Download every offer and its figures (CSV)").click()
    text = open(download.value.path(), encoding="utf-8-sig").read()
    assert text.splitlines()[0] == "Offer,Title,Posted at,Time zone,Status,Quantity,Told,Opened,Reserved,Collected"
    assert f"{offer['id']},Focaccia della sera," in text
    assert errors == []
    shop_ctx.close()


def test_the_consoles_charts_of_the_last_day(browser, live):
    key, shop = merchant_with_shop(live)
    _neighbours(live, 5)
    # FCM refuses this one's every push (a dead letter: failed, the resident kept).
    live.post("/api/v1/subscribers", {"fcm_token": "badrequest-phone", "lat": SHOP[0], "lon": SHOP[1]})
    sold = post_offer(live, key, shop, title="Pane", quantity=2)
    post_offer(live, key, shop, title="Latte")

    ctx = browser.new_context(viewport=DESKTOP, timezone_id="Europe/Rome", locale="en-GB")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: _error(errors, m))
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, live, "/admin/", ADMIN_TOKEN)
    expect(page.get_by_role("heading", name="Last 24 hours")).to_be_visible(timeout=WAIT_MS)

    def last_hour() -> list[str]:
        page.reload()
        return page.locator("#activity-table tbody tr").last.locator("td").all_text_contents()

    # The dispatcher works on its own: the page shows its pushes once they are out (5 residents
    # told of 2 offers, the refused one's 2 failed; 2 offers posted).
    wait_for(page, lambda: last_hour() == ["10", "2", "0", "2", "0"], "the pushes of the hour")
    # A resident who joined since takes the whole of one: sold out.
    buyer = live.post("/api/v1/subscribers", {"fcm_token": "funnel-buyer", "lat": SHOP[0], "lon": SHOP[1]})
    live.post(f"/api/v1/offers/{sold['id']}/reservations", {"quantity": 2}, buyer["secret"])
    assert last_hour() == ["10", "2", "0", "2", "1"]
    expect(page.locator("#pushes-chart")).to_have_attribute("data-drawn", "true")
    expect(page.locator("#offers-chart")).to_have_attribute("data-drawn", "true")
    series = page.evaluate("""() => ['pushes-chart', 'offers-chart'].map(id => {
        const c = document.getElementById(id).chart;
        return c.data.datasets.map(d => [d.label, d.data.length, d.data[d.data.length - 1]]); })""")
    assert series == [[["Pushes sent", 24, 10], ["Failed", 24, 2], ["Suppressed", 24, 0]],
                      [["Offers posted", 24, 2], ["Offers sold out", 24, 1]]]
    # The audit shows the operator's own sign-in, by console session.
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("signed in to the console")
    page.locator("#activity").scroll_into_view_if_needed()
    docs_shot(page, "admin-charts-desktop.png", "#activity")
    assert errors == []
    ctx.close()
