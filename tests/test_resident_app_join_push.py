"""Joining the residents' app needs the browser's alerts (the subscription's fcm_token): where it
cannot have them, the join page says so before the form is filled in, in the page's language;
and a failure of the browser's push service reads as a sentence, not a blank error."""
from __future__ import annotations

import base64
import dataclasses
import re

import pytest
from playwright.sync_api import expect

from tests.test_browser import PHONE, WAIT_MS, browser, live, settings as browser_settings  # noqa: F401 (fixtures)
from tests.test_resident_app_browser import HOME

FIREBASE = {"apiKey": "AIzaSyExample", "projectId": "deals-city", "messagingSenderId": "123456789012", "appId": "1:123456789012:web:abc"}
VAPID = base64.urlsafe_b64encode(b"\x04" + bytes(range(1, 65))).decode().rstrip("=")


@pytest.fixture
def settings(browser_settings, request):
    if request.param == "firebase":  # real web push configured
        return dataclasses.replace(browser_settings, firebase_web_config=FIREBASE, firebase_vapid_key=VAPID)
    # pushes to a standalone emulator: nothing can give a browser a token here
    return dataclasses.replace(browser_settings, fcm_endpoint="http://127.0.0.1:9/")


def join_page(browser, live, notifications: bool, locale: str = "en-GB"):
    """The join page in a browser where notifications are allowed, or not (headless Chromium
    then reports them as denied, as after the resident refused them)."""
    ctx = browser.new_context(viewport=PHONE, locale=locale, geolocation={"latitude": HOME[0], "longitude": HOME[1]},
                              permissions=["geolocation"] + (["notifications"] if notifications else []))
    ctx.route(re.compile(r"^https://"), lambda route: route.abort())  # Firebase's servers: out of reach
    page = ctx.new_page()
    page.goto(live.url + "/app/join")
    return ctx, page


@pytest.mark.parametrize("settings", ["none"], indirect=True)
def test_where_the_service_cannot_push_to_a_browser_joining_says_so_first(browser, live):
    ctx, page = join_page(browser, live, True, locale="it-IT")
    expect(page.locator("#join-notice")).to_have_text(
        "Per ora qui non è possibile iscriversi: questo servizio non può inviare avvisi a un browser.")
    expect(page.get_by_role("button", name="Iscriviti e attiva gli avvisi")).to_be_disabled()
    ctx.close()


@pytest.mark.parametrize("settings", ["firebase"], indirect=True)
def test_with_notifications_blocked_joining_says_how_to_allow_them(browser, live):
    ctx, page = join_page(browser, live, False)
    assert page.evaluate("Notification.permission") == "denied"
    expect(page.locator("#join-notice")).to_contain_text("Notifications from this site are blocked in this browser.")
    expect(page.get_by_role("button", name="Join and turn on alerts")).to_be_disabled()
    ctx.close()


@pytest.mark.parametrize("settings", ["firebase"], indirect=True)
def test_when_the_browser_cannot_get_a_push_token_the_resident_reads_why(browser, live):
    ctx, page = join_page(browser, live, True)
    expect(page.locator("#join-notice")).to_be_hidden()
    page.get_by_role("button", name="Use my location").click()
    expect(page.locator("#place-status")).to_have_text("Found your location.", timeout=WAIT_MS)
    page.get_by_role("button", name="Join and turn on alerts").click()
    expect(page.locator("#form-error")).to_have_text(
        "That did not work: Alerts could not be turned on in this browser. Try again in a moment, or join with another browser.",
        timeout=WAIT_MS)
    assert page.evaluate("localStorage.getItem('dealsvc.resident')") is None
    ctx.close()
