"""The web app's side of residents' data, in Debian's Chromium: the privacy notice is read and
accepted before joining (its version reaches the service), in the page's language; Settings
downloads everything held about the resident as a JSON file; and the app presents its token
again so that it stays fresh."""
from __future__ import annotations

import json
import re

import requests
from playwright.sync_api import expect

from dealsvc.domain.consent import CURRENT_NOTICE
from tests.support.browser import PHONE, WAIT_MS, browser, live, merchant_with_shop, settings  # noqa: F401, F811 (fixtures among them)
from tests.support.resident_app import HOME, phone, stored_resident

ACCEPT = "I have read the privacy notice and accept it"


def _pin(page) -> None:
    page.get_by_role("button", name="Use my location").click()
    expect(page.locator("#place-status")).to_have_text("Found your location.", timeout=WAIT_MS)


def test_joining_needs_the_privacy_notice_accepted_and_records_its_version(browser, live):
    outside: list[str] = []
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]},
                permissions=["geolocation", "notifications"])
    page = ctx.new_page()
    page.goto(live.url + "/app/join")
    notice = page.get_by_role("group", name="Privacy notice")
    expect(notice).to_contain_text("What is kept: your places")
    expect(notice).to_contain_text("it is deleted 30 days later")
    _pin(page)
    page.get_by_role("button", name="Join and turn on alerts").click()
    expect(page.locator("#error-privacy_accept")).to_have_text("Read the privacy notice and tick the box to join.")
    expect(page.get_by_label(ACCEPT)).to_be_focused()
    assert stored_resident(page) is None  # nothing was sent

    page.get_by_label(ACCEPT).check()
    page.get_by_role("button", name="Join and turn on alerts").click()
    page.wait_for_url(re.compile(r"/app/\?joined=1$"), timeout=WAIT_MS)
    me = stored_resident(page)
    sub = requests.get(f"{live.url}/api/v1/subscribers/{me['id']}", headers={"Authorization": f"Bearer {me['secret']}"},
                       timeout=10).json()
    assert sub["privacy_notice"]["version"] == CURRENT_NOTICE and sub["privacy_notice"]["accepted_at"]
    ctx.close()
    assert outside == []


def test_the_notice_in_italian_and_french(browser, live):
    for locale, words in (("it-IT", "Cosa conserviamo"), ("fr-FR", "Ce qui est conservé")):
        ctx = browser.new_context(viewport=PHONE, locale=locale)
        page = ctx.new_page()
        page.goto(live.url + "/app/join")
        expect(page.locator("#privacy-notice")).to_contain_text(words)
        expect(page.locator("#privacy-notice")).to_contain_text("30")
        ctx.close()


def test_settings_downloads_everything_held_as_json(browser, live):
    outside: list[str] = []
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]},
                permissions=["geolocation", "notifications"], accept_downloads=True)
    page = ctx.new_page()
    page.goto(live.url + "/app/join")
    _pin(page)
    page.get_by_label(ACCEPT).check()
    page.get_by_role("button", name="Join and turn on alerts").click()
    page.wait_for_url(re.compile(r"/app/\?joined=1$"), timeout=WAIT_MS)
    me = stored_resident(page)
    key, shop = merchant_with_shop(live)
    r = requests.post(f"{live.url}/api/v1/subscribers/{me['id']}/favorites", json={"shop_id": shop["id"]},
                      headers={"Authorization": f"Bearer {me['secret']}"}, timeout=10)
    assert r.status_code == 201

    page.get_by_role("link", name="Settings").click()
    button = page.get_by_role("button", name="Download my data")
    expect(button).to_be_visible(timeout=WAIT_MS)
    with page.expect_download() as download:
        button.click()
    saved = download.value
    assert re.fullmatch(r"my-data-\d{4}-\d{2}-\d{2}\.json", saved.suggested_filename)
    data = json.loads(open(saved.path(), encoding="utf-8").read())
    assert data["subscriber"]["id"] == me["id"]
    assert abs(data["subscriber"]["lat"] - HOME[0]) < 0.001
    assert [f["shop_id"] for f in data["favorites"]] == [shop["id"]]
    assert data["subscriber"]["privacy_notice"]["version"] == CURRENT_NOTICE
    expect(page.locator("#status")).to_have_text("Your data is downloaded.")
    ctx.close()
    assert outside == []


def test_the_app_presents_its_token_again_after_a_day(browser, live, container):
    from sqlalchemy import select

    from dealsvc.adapters.db.models import Subscriber

    ctx = phone(browser, live, [], geolocation={"latitude": HOME[0], "longitude": HOME[1]},
                permissions=["geolocation", "notifications"])
    page = ctx.new_page()
    page.goto(live.url + "/app/join")
    _pin(page)
    page.get_by_label(ACCEPT).check()
    page.get_by_role("button", name="Join and turn on alerts").click()
    page.wait_for_url(re.compile(r"/app/\?joined=1$"), timeout=WAIT_MS)
    me = stored_resident(page)

    def seen():
        with container.db.read() as s:
            return s.scalar(select(Subscriber.token_seen_at).where(Subscriber.id == me["id"]))

    joined = seen()
    # A day later (as this device remembers it), opening the app presents the token again.
    page.evaluate("localStorage.setItem('dealsvc.token-presented', JSON.stringify(Date.now() - 86400001))")
    with page.expect_response(lambda r: r.request.method == "PATCH" and f"/subscribers/{me['id']}" in r.url) as patched:
        page.reload()
    assert patched.value.status == 200
    assert seen() > joined
    ctx.close()
