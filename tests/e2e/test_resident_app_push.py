"""Alerts in the residents' web app, end to end in Chromium at phone size: a resident joins with a
pin on the map, a shopkeeper posts nearby through the API, the dispatcher sends through
firebase-admin to the built-in emulator, and the app's service worker shows the push, both as a
real push event (the emulator's payload delivered with Chromium's ServiceWorker.deliverPushMessage)
and as the open app hands it over from the emulator. A withdrawal replaces its notification."""
from __future__ import annotations

import json
import re

import pytest
import requests
from playwright.sync_api import Error, expect

from tests.support.browser import (  # noqa: F401 (fixtures)
    PHONE, WAIT_MS, browser, live, merchant_with_shop, settings,
)
from tests.support.browser import docs_shot
from tests.support.resident_app import HOME, join_with_pin, joined_phone, phone, post_offer
from tests.support.resident_app import notifications, wait_for


def web_messages(live, token: str) -> list[dict]:
    r = requests.get(f"{live.url}/emulator/api/web-clients/{token}/messages", params={"after": 0}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["messages"]


def test_a_push_is_shown_by_the_service_worker_and_opens_the_offer(browser, live):
    outside: list[str] = []
    ctx, page, me = joined_phone(browser, live, outside)
    assert me["token"] and ":APA91b" in me["token"]  # the emulator's web-client token
    # The offline page runs no script of the app: nothing here hands pushes over but the push event.
    page.goto(live.url + "/app/offline")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")

    key, shop = merchant_with_shop(live)
    offer = post_offer(live, key, shop, title="Focaccia della sera")
    message = wait_for(page, lambda: [m for m in web_messages(live, me["token"]) if m["payload"]["data"].get("offer_id") == offer["id"]],
                       "the dispatcher's push to the emulator")[0]
    payload = message["payload"]
    assert payload["notification"]["tag"] == f"offer-{offer['id']}"

    cdp = ctx.new_cdp_session(page)
    registrations: list[dict] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    registration = wait_for(page, lambda: next((r for r in registrations if r["scopeURL"] == live.url + "/app/" and not r["isDeleted"]), None),
                            "the app's service worker registration")
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": live.url, "registrationId": registration["registrationId"], "data": json.dumps(payload),
    })
    shown = wait_for(page, lambda: notifications(page), "the notification")
    assert len(shown) == 1
    assert shown[0]["title"] == payload["notification"]["title"] and "Focaccia della sera" in shown[0]["title"] + shown[0]["body"]
    assert shown[0]["tag"] == f"offer-{offer['id']}"
    assert shown[0]["data"]["offer_id"] == offer["id"]

    # Another offer's alert, then its withdrawal: each a push event; the second replaces the first
    # under the offer's tag, the other alert untouched.
    def deliver(message_payload: dict) -> None:
        cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": live.url, "registrationId": registration["registrationId"], "data": json.dumps(message_payload)})

    def pushes_about(offer_id: str) -> list[dict]:
        return [m["payload"] for m in web_messages(live, me["token"]) if m["payload"]["data"].get("offer_id") == offer_id]

    latte = post_offer(live, key, shop, title="Latte fresco")
    [alert] = wait_for(page, lambda: pushes_about(latte["id"]), "the second offer's push")
    deliver(alert)
    wait_for(page, lambda: len(notifications(page)) == 2, "the second alert")
    r = requests.patch(f"{live.url}/api/v1/offers/{latte['id']}", json={"status": "cancelled"},
                       headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    withdrawal = wait_for(page, lambda: pushes_about(latte["id"])[1:], "the withdrawal's push")[0]
    deliver(withdrawal)
    now = wait_for(page, lambda: (lambda ns: ns if "no longer available" in ns.get(f"offer-{latte['id']}", {}).get("title", "") else None)(
        {n["tag"]: n for n in notifications(page)}), "the withdrawal to replace its alert")
    assert len(now) == 2 and now[f"offer-{offer['id']}"]["title"] == shown[0]["title"]
    assert now[f"offer-{latte['id']}"]["body"] == "Withdrawn by the shop."

    # A tap opens the offer's page (the link the worker gives the notification), where it is reserved.
    page.goto(live.url + f"/app/offers/{shown[0]['data']['offer_id']}")
    expect(page.get_by_role("heading", name="Focaccia della sera")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Reserve and pick up at the shop").click()
    code = page.locator("#pickup-code")
    expect(code).to_have_text(re.compile(r"\S+"), timeout=WAIT_MS)
    hold = page.evaluate("JSON.parse(localStorage.getItem('dealsvc.reservations'))")[0]
    collected = requests.post(f"{live.url}/api/v1/reservations/{hold['id']}/collect", json={"code": code.text_content()},
                              headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert collected.status_code == 200 and collected.json()["status"] == "collected", collected.text
    ctx.close()
    assert outside == []


def test_the_open_app_shows_the_emulators_pushes_and_a_withdrawal_replaces_its_alert(browser, live):
    outside: list[str] = []
    ctx, page, _ = joined_phone(browser, live, outside)
    key, shop = merchant_with_shop(live)
    kept = post_offer(live, key, shop, title="Focaccia della sera")
    withdrawn = post_offer(live, key, shop, title="Latte fresco")

    kept_tag, gone_tag = f"offer-{kept['id']}", f"offer-{withdrawn['id']}"
    before = wait_for(page, lambda: (lambda ns: {n["tag"]: n for n in ns} if len(ns) == 2 else None)(notifications(page)), "both alerts")
    assert set(before) == {kept_tag, gone_tag}
    assert "Latte fresco" in before[gone_tag]["title"] + before[gone_tag]["body"]

    r = requests.patch(f"{live.url}/api/v1/offers/{withdrawn['id']}", json={"status": "cancelled"},
                       headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text

    def replaced():
        now = {n["tag"]: n for n in notifications(page)}
        changed = gone_tag in now and (now[gone_tag]["title"], now[gone_tag]["body"]) != (before[gone_tag]["title"], before[gone_tag]["body"])
        return now if len(now) == 2 and changed else None

    after = wait_for(page, replaced, "the withdrawal to replace its alert")
    assert "no longer available" in after[gone_tag]["title"] + after[gone_tag]["body"]
    assert after[gone_tag]["data"]["offer_id"] == withdrawn["id"]
    assert after[kept_tag] == before[kept_tag]  # the other alert untouched

    # Leaving takes the alerts away with the subscription.
    page.on("dialog", lambda d: d.accept())
    page.goto(live.url + "/app/settings")
    page.get_by_role("button", name="Leave and delete my data").click()
    expect(page.locator("#status")).to_contain_text("You left", timeout=WAIT_MS)
    assert notifications(page) == []
    ctx.close()
    assert outside == []


def test_the_whole_flow_in_italian_with_screenshots_for_the_readme(browser, live):
    """Joining, near me (list and map), an offer, its pickup code and the alert, in Italian."""
    outside: list[str] = []
    ctx = browser.new_context(viewport=PHONE, timezone_id="Europe/Rome", locale="it-IT",
                              geolocation={"latitude": HOME[0], "longitude": HOME[1]},
                              permissions=["geolocation", "notifications"])
    ctx.on("request", lambda req: None if req.url.startswith(live.url) else outside.append(req.url))
    page = ctx.new_page()
    page.goto(live.url + "/app/join")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    page.get_by_role("button", name="Usa la mia posizione").click()
    expect(page.locator("#place-status")).to_have_text("Posizione trovata.", timeout=WAIT_MS)
    # The map's buttons and the pin's place in Italian (a decimal comma: the coordinates are named).
    expect(page.locator("#map .leaflet-control-zoom-in")).to_have_attribute("title", "Ingrandisci")
    expect(page.locator("#map .leaflet-control-zoom-out")).to_have_attribute("title", "Riduci")
    page.locator("#map").click()
    expect(page.locator("#place-status")).to_have_text(re.compile(r"^Segnaposto a latitudine 45,46\d*; longitudine 9,1[89]\d*\.$"))
    page.get_by_label("panetteria").check()
    expect(page.locator("#radius-out")).to_have_text("1 km")
    docs_shot(page, "app-join-it-phone.png")
    page.get_by_label("Ho letto l'informativa sulla privacy e la accetto").check()
    page.get_by_role("button", name="Iscriviti e attiva gli avvisi").click()
    page.wait_for_url(re.compile(r"/app/\?joined=1$"), timeout=WAIT_MS)
    me = page.evaluate("JSON.parse(localStorage.getItem('dealsvc.resident'))")
    sub = requests.get(f"{live.url}/api/v1/subscribers/{me['id']}", headers={"Authorization": f"Bearer {me['secret']}"}, timeout=10).json()
    assert sub["locale"] == "it"

    key, shop = merchant_with_shop(live)
    offer = post_offer(live, key, shop, title="Focaccia della sera")
    alert = page.locator("#alerts li")
    expect(alert).to_contain_text("Focaccia della sera", timeout=WAIT_MS)  # the push, as the worker shows it
    expect(alert).to_contain_text("3,00 €")
    item = page.locator("#offers li").filter(has_text="Focaccia della sera")
    expect(item).to_contain_text("3,00 €", timeout=WAIT_MS)
    expect(item).to_contain_text("ne restano 4")
    docs_shot(page, "app-near-it-phone.png")

    alert.get_by_role("link").click()
    page.wait_for_url(re.compile(f"/app/offers/{offer['id']}$"))
    expect(page.get_by_role("heading", name="Focaccia della sera")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#offer-was")).to_have_text("prima 6,00 €")
    docs_shot(page, "app-offer-it-phone.png")
    page.get_by_role("button", name="Prenota e ritira in negozio").click()
    expect(page.locator("#pickup-code")).to_have_text(re.compile(r"\S+"), timeout=WAIT_MS)
    expect(page.locator("#pickup-until")).to_contain_text("Tenuto per te fino alle")
    docs_shot(page, "app-code-it-phone.png")

    # The shop collects with that code: "My reservations" says so.
    hold = page.evaluate("JSON.parse(localStorage.getItem('dealsvc.reservations'))")[0]
    collected = requests.post(f"{live.url}/api/v1/reservations/{hold['id']}/collect", json={"code": page.locator("#pickup-code").text_content()},
                              headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert collected.status_code == 200, collected.text
    page.get_by_role("link", name="Le mie prenotazioni").click()
    expect(page.locator("#reservations")).to_contain_text("ritirata", timeout=WAIT_MS)

    # One item left, as Italian says it for one; then the shop withdraws it, and its alert is
    # replaced with the words for gone (the other alert stays).
    latte = post_offer(live, key, shop, title="Latte fresco", quantity=1)
    page.goto(live.url + "/app/")
    expect(page.locator("#offers li").filter(has_text="Latte fresco")).to_contain_text("ne resta 1", timeout=WAIT_MS)
    expect(page.locator("#offers-count")).to_have_text("2 offerte intorno a te.")
    expect(page.locator("#alerts li")).to_have_count(2, timeout=WAIT_MS)
    r = requests.patch(f"{live.url}/api/v1/offers/{latte['id']}", json={"status": "cancelled"},
                       headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    gone = page.locator("#alerts li").filter(has_text="Latte fresco")
    expect(gone).to_contain_text("non più disponibile", timeout=WAIT_MS)
    expect(gone).to_contain_text("Ritirata dal negozio.")
    expect(page.locator("#alerts li").filter(has_text="Focaccia della sera")).to_contain_text("3,00 €")
    expect(page.locator("#offers li").filter(has_text="Latte fresco")).to_have_count(0, timeout=WAIT_MS)
    docs_shot(page, "app-alerts-it-phone.png", "#alerts-section")
    ctx.close()
    assert outside == []


def test_no_page_of_the_app_logs_an_error_or_is_refused_anything(browser, live):
    """A script error, a failed request or anything the CSP refused shows as a console error."""
    outside: list[str] = []
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]},
                permissions=["geolocation", "notifications"])
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} {m.location.get('url')}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    join_with_pin(page, live, quiet_hours=False)
    key, shop = merchant_with_shop(live)
    offer = post_offer(live, key, shop)
    expect(page.locator("#alerts li")).to_have_count(1, timeout=WAIT_MS)
    for path in ("/app/", f"/app/offers/{offer['id']}", "/app/reservations", "/app/settings", "/app/offline"):
        page.goto(live.url + path)
        page.wait_for_load_state("networkidle")
    assert errors == []
    ctx.close()
    assert outside == []


OPEN_ALERT_JS = """async () => {
  const shown = await self.registration.getNotifications();
  await openAlert(shown[0].data);  // what the worker's notificationclick does with the tapped alert
  return shown[0].data;
}"""


def test_tapping_an_alert_opens_the_offer_with_a_shop_tab_open(browser, live):
    """The worker's click handler (openAlert), run inside the worker: the app's tab goes to the
    offer even when a tab of /shop/ (not the worker's) was used last; with no tab of the app
    left, a new window opens on the offer; the /shop/ tab is never touched."""
    outside: list[str] = []
    ctx, page, _ = joined_phone(browser, live, outside)
    key, shop = merchant_with_shop(live)
    offer = post_offer(live, key, shop, title="Focaccia della sera")
    wait_for(page, lambda: notifications(page), "the alert")
    shop_tab = ctx.new_page()
    shop_tab.goto(live.url + "/shop/")
    worker = ctx.service_workers[0] if ctx.service_workers else ctx.wait_for_event("serviceworker")

    data = worker.evaluate(OPEN_ALERT_JS)
    assert data["link"] == f"{live.url}/app/offers/{offer['id']}"
    expect(page).to_have_url(f"{live.url}/app/offers/{offer['id']}", timeout=WAIT_MS)
    expect(page.get_by_role("heading", name="Focaccia della sera")).to_be_visible(timeout=WAIT_MS)
    assert shop_tab.url == live.url + "/shop/"

    # No tab of the app left: the worker opens a new window on the offer. (Only a real tap lets a
    # worker open a window, which a test cannot give: the browser refusing openWindow here shows
    # the handler chose a new window, where it used to fail on navigating the /shop/ tab.)
    page.close()
    with pytest.raises(Error, match="Not allowed to open a window"):
        worker.evaluate(OPEN_ALERT_JS)
    assert shop_tab.url == live.url + "/shop/"
    ctx.close()
    assert outside == []


SHOW_JS = """async (payload) => {
  const r = await navigator.serviceWorker.ready;
  r.active.postMessage({type: "push", payload});  // as the page hands over an emulator's push
  for (let i = 0; i < 100; i++) {
    const shown = await r.getNotifications({tag: payload.notification.tag});
    if (shown.length) return shown[0].data;
    await new Promise(ok => setTimeout(ok, 50));
  }
  return null;
}"""


def test_the_worker_is_there_before_joining_and_alerts_lead_only_to_the_apps_pages(browser, live):
    """Any page of the app installs the worker (no need to join first); an alert's link to
    another site or outside /app/ is replaced by the offer's page."""
    outside: list[str] = []
    ctx = phone(browser, live, outside, permissions=["notifications"])
    page = ctx.new_page()
    page.goto(live.url + "/app/join")
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)") == live.url + "/app/"
    for n, link in enumerate(("https://evil.example/app/offers/off_1", f"{live.url}/admin/", "javascript:alert(1)")):
        data = page.evaluate(SHOW_JS, {"notification": {"title": "Pane", "tag": f"offer-off_{n}"},
                                       "data": {"offer_id": f"off_{n}"}, "fcmOptions": {"link": link}})
        assert data["link"] == f"{live.url}/app/offers/off_{n}", link
    data = page.evaluate(SHOW_JS, {"notification": {"title": "Pane", "tag": "offer-off_9"}, "data": {"offer_id": "off_9"},
                                   "fcmOptions": {"link": f"{live.url}/app/offers/off_9"}})
    assert data["link"] == f"{live.url}/app/offers/off_9"
    ctx.close()
    assert outside == []


def test_after_the_emulator_restarts_the_open_app_still_shows_the_new_pushes(browser, live):
    """The app remembers how far it read the emulator's pushes; the emulator of a new run (a
    restarted server) numbers them from 1 again, and the app starts over instead of waiting
    for a number it will not reach."""
    outside: list[str] = []
    ctx, page, _ = joined_phone(browser, live, outside)
    page.evaluate("localStorage.setItem('dealsvc.emulator-seq', JSON.stringify({instance: 'an-earlier-run', after: 1000000}))")
    page.reload()
    key, shop = merchant_with_shop(live)
    offer = post_offer(live, key, shop, title="Focaccia della sera")
    shown = wait_for(page, lambda: notifications(page), "the alert")
    assert shown[0]["data"]["offer_id"] == offer["id"]
    ctx.close()
    assert outside == []
