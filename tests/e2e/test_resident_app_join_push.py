"""Joining the residents' app needs the browser's alerts (the subscription's fcm_token): where it
cannot have them, the join page says so before the form is filled in, in the page's language;
and a failure of the browser's push service reads as a sentence, not a blank error."""
from __future__ import annotations

import base64
import dataclasses
import json
import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import PHONE, WAIT_MS, browser, live, settings as browser_settings  # noqa: F401 (fixtures)
from tests.support.resident_app import HOME

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
    page.get_by_label("I have read the privacy notice and accept it").check()
    page.get_by_role("button", name="Join and turn on alerts").click()
    expect(page.locator("#form-error")).to_have_text(
        "That did not work: Alerts could not be turned on in this browser. Try again in a moment, or join with another browser.",
        timeout=WAIT_MS)
    assert page.evaluate("localStorage.getItem('dealsvc.resident')") is None
    ctx.close()


# The browser's push service and Firebase's registration servers, stood in for: a push
# subscription from PushManager (headless Chromium has no push service), and the answers of
# firebaseinstallations / fcmregistrations that the Firebase JS SDK asks for a token.
FAKE_PUSH_SUBSCRIPTION = """(() => {
  const key = new Uint8Array(65); key[0] = 4; const auth = new Uint8Array(16);
  const sub = { endpoint: "https://fcm.googleapis.com/fcm/send/test", expirationTime: null,
    getKey: n => (n === "p256dh" ? key : auth).buffer, toJSON() { return {endpoint: this.endpoint}; },
    options: { applicationServerKey: null }, unsubscribe: () => Promise.resolve(true) };
  PushManager.prototype.subscribe = function () { return Promise.resolve(sub); };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(sub); };
})();"""


@pytest.mark.parametrize("settings", ["firebase"], indirect=True)
def test_with_real_web_push_the_firebase_token_is_registered_kept_current_and_deleted_on_leaving(browser, live):
    """The production path: the Firebase JS SDK gets the token with the app's worker, a new one
    goes to the service with PATCH, and leaving deletes it at FCM."""
    ctx = browser.new_context(viewport=PHONE, locale="en-GB", geolocation={"latitude": HOME[0], "longitude": HOME[1]},
                              permissions=["geolocation", "notifications"])
    ctx.add_init_script(FAKE_PUSH_SUBSCRIPTION)
    issued = {"n": 1}
    firebase: list[str] = []

    def firebase_servers(route):
        url = route.request.url
        firebase.append(f"{route.request.method} {url.split('?')[0]}")
        if url.startswith("https://firebaseinstallations.googleapis.com/"):
            route.fulfill(status=200, content_type="application/json", body=json.dumps({
                "name": "installation", "fid": "fTestFid0000000000000000", "refreshToken": "refresh",
                "authToken": {"token": "auth", "expiresIn": "604800s"}}))
        elif url.startswith("https://fcmregistrations.googleapis.com/"):
            route.fulfill(status=200, content_type="application/json",
                          body=json.dumps({"token": f"fcm-token-{issued['n']}"}) if route.request.method != "DELETE" else "{}")
        else:
            route.abort()

    ctx.route(re.compile(r"^https://"), firebase_servers)
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    page.goto(live.url + "/app/join")
    page.get_by_role("button", name="Use my location").click()
    expect(page.locator("#place-status")).to_have_text("Found your location.", timeout=WAIT_MS)
    page.get_by_label("I have read the privacy notice and accept it").check()
    page.get_by_role("button", name="Join and turn on alerts").click()
    page.wait_for_url(re.compile(r"/app/\?joined=1$"), timeout=WAIT_MS)
    me = page.evaluate("JSON.parse(localStorage.getItem('dealsvc.resident'))")
    assert me["token"] == "fcm-token-1"
    assert any(call.startswith("POST https://fcmregistrations.googleapis.com/") for call in firebase)

    # FCM hands out another token (its own store forgotten): the next page sends it with PATCH.
    issued["n"] = 2
    page.evaluate("new Promise(done => { const q = indexedDB.deleteDatabase('firebase-messaging-database'); q.onsuccess = q.onerror = q.onblocked = () => done(1); })")
    with page.expect_request(lambda r: r.method == "PATCH" and f"/api/v1/subscribers/{me['id']}" in r.url, timeout=WAIT_MS) as patch:
        page.goto(live.url + "/app/settings")
    assert patch.value.post_data_json == {"fcm_token": "fcm-token-2"}
    stored = "JSON.parse(localStorage.getItem('dealsvc.resident')).token"
    for _ in range(WAIT_MS // 100):
        if page.evaluate(stored) == "fcm-token-2":
            break
        page.wait_for_timeout(100)
    assert page.evaluate(stored) == "fcm-token-2"

    # Leaving deletes the token at FCM too.
    firebase.clear()
    page.get_by_role("button", name="Leave and delete my data").click()
    expect(page.locator("#status")).to_contain_text("You left", timeout=WAIT_MS)
    assert any(call.startswith("DELETE https://fcmregistrations.googleapis.com/") for call in firebase), firebase
    ctx.close()
