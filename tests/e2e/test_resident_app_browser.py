"""The residents' web app (/app/) in Debian's Chromium at phone size: join with a pin on the map,
see what a shop posted through the API, open it, reserve, see the code the shop collects with,
release and leave; and nothing is fetched from anywhere but the service itself."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import requests
from playwright.sync_api import expect

from tests.support.browser import WAIT_MS, browser, live, merchant_with_shop, screenshot, settings

from tests.support.resident_app import HOME, join_with_pin, joined_phone, phone, post_offer, stored_resident  # noqa: F401


def test_join_with_a_pin_see_an_offer_reserve_show_the_code_and_leave(browser, live):
    outside: list[str] = []
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]},
                permissions=["geolocation", "notifications"])
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    me = join_with_pin(page, live)

    # The subscription the API holds is the one the form said, with the secret only on the device.
    got = requests.get(f"{live.url}/api/v1/subscribers/{me['id']}", headers={"Authorization": f"Bearer {me['secret']}"}, timeout=10)
    assert got.status_code == 200, got.text
    sub = got.json()
    assert abs(sub["lat"] - HOME[0]) < 0.001 and abs(sub["lon"] - HOME[1]) < 0.001
    assert sub["categories"] == ["bakery"] and sub["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert sub["max_per_day"] == 3 and sub["locale"] == "en"

    key, shop = merchant_with_shop(live)
    offer = post_offer(live, key, shop)
    page.reload()
    item = page.locator("#offers li").filter(has_text="Focaccia della sera")
    expect(item).to_be_visible(timeout=WAIT_MS)
    expect(item).to_contain_text("Forno Rossi")
    expect(item).to_contain_text("€3.00")  # 50 % off 6.00, as English writes it
    expect(item).to_contain_text("4 left")
    expect(item).to_contain_text(re.compile(r"\d+ m away"))
    expect(page.locator("#map .leaflet-interactive").first).to_be_attached()  # the circle and the shop on the map
    screenshot(page, "app-near-me")

    item.get_by_role("link").click()
    page.wait_for_url(re.compile(f"/app/offers/{offer['id']}$"))
    expect(page.get_by_role("heading", name="Focaccia della sera")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#shop-name")).to_have_text("Forno Rossi")
    page.get_by_label("How many").select_option("2")
    page.get_by_role("button", name="Reserve and pick up at the shop").click()
    code = page.locator("#pickup-code")
    expect(code).to_have_text(re.compile(r"\S+"), timeout=WAIT_MS)
    expect(page.locator("#pickup-shop")).to_have_text("Forno Rossi")
    expect(page.locator("#pickup-until")).to_contain_text("Held for you until")
    screenshot(page, "app-pickup-code")

    # The shop's count went down by two, and the code on the screen is the one the shop collects with.
    assert requests.get(f"{live.url}/api/v1/offers/{offer['id']}", timeout=10).json()["quantity_left"] == 2
    shown = code.text_content()
    page.get_by_role("link", name="My reservations").click()
    expect(page.locator("#reservations .code")).to_have_text(shown, timeout=WAIT_MS)
    holds = page.evaluate("JSON.parse(localStorage.getItem('dealsvc.reservations'))")
    r = requests.post(f"{live.url}/api/v1/reservations/{holds[0]['id']}/collect", json={"code": shown},
                      headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "collected", r.text
    page.reload()
    expect(page.locator("#reservations")).to_contain_text("collected", timeout=WAIT_MS)

    # Leave: the subscription is deleted, the secret no longer opens anything.
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("button", name="Leave and delete my data").click()
    expect(page.locator("#status")).to_contain_text("You left", timeout=WAIT_MS)
    assert stored_resident(page) is None
    gone = requests.get(f"{live.url}/api/v1/subscribers/{me['id']}", headers={"Authorization": f"Bearer {me['secret']}"}, timeout=10)
    assert gone.status_code in (401, 404)
    ctx.close()
    assert outside == []


def test_a_hold_released_from_my_reservations_goes_back_to_the_offer(browser, live):
    outside: list[str] = []
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]}, permissions=["geolocation"])
    page = ctx.new_page()
    join_with_pin(page, live)
    key, shop = merchant_with_shop(live)
    offer = post_offer(live, key, shop, title="Latte fresco", quantity=3)
    page.goto(f"{live.url}/app/offers/{offer['id']}")
    page.get_by_role("button", name="Reserve and pick up at the shop").click()
    expect(page.locator("#pickup-code")).to_have_text(re.compile(r"\S+"), timeout=WAIT_MS)
    code = page.locator("#pickup-code").text_content()
    assert requests.get(f"{live.url}/api/v1/offers/{offer['id']}", timeout=10).json()["quantity_left"] == 2
    # The phone forgets what it held (storage cleared, another device): the list comes from the
    # service, with the code to show at the counter and the offer's title.
    page.evaluate("localStorage.removeItem('dealsvc.reservations')")
    page.get_by_role("link", name="My reservations").click()
    expect(page.locator("#reservations .code")).to_have_text(code, timeout=WAIT_MS)
    expect(page.locator("#reservations")).to_contain_text("Latte fresco", timeout=WAIT_MS)
    page.get_by_role("button", name="Release").click()
    expect(page.locator("#status")).to_contain_text("Released", timeout=WAIT_MS)
    assert requests.get(f"{live.url}/api/v1/offers/{offer['id']}", timeout=10).json()["quantity_left"] == 3
    ctx.close()
    assert outside == []


def test_the_app_fetches_nothing_from_another_origin_with_default_settings(browser, live):
    """Every page, its map and the service worker's shell: requests only to the service itself."""
    outside: list[str] = []
    seen: list[str] = []
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]}, permissions=["geolocation"])
    ctx.on("request", lambda req: seen.append(req.url))
    page = ctx.new_page()
    me = join_with_pin(page, live)
    key, shop = merchant_with_shop(live)
    offer = post_offer(live, key, shop)
    for path in ("/app/", f"/app/offers/{offer['id']}", "/app/reservations", "/app/settings", "/app/join"):
        page.goto(live.url + path)
        page.wait_for_load_state("networkidle")
    # The service worker is installed and has stored the shell (its requests are recorded too).
    cached = page.evaluate("caches.keys().then(k => Promise.all(k.map(n => caches.open(n).then(c => c.keys())))).then(a => a.flat().map(r => r.url))")
    assert any(u.endswith("/app/offline") for u in cached) and any("/leaflet.js?v=" in u for u in cached)
    assert any("/api/v1/deals" in u for u in seen) and me["secret"]
    ctx.close()
    assert outside == []


def test_joining_with_the_keyboard_only(browser, live):
    """No pointer: the map moves with the arrow keys, the pin goes to its centre with a button,
    the form is sent with Enter; and the radius slider moves with the keys too."""
    outside: list[str] = []
    ctx = phone(browser, live, outside)
    page = ctx.new_page()
    page.goto(live.url + "/app/join")
    page.get_by_role("button", name="Join and turn on alerts").focus()
    page.keyboard.press("Enter")  # without a place: told so, by the map
    expect(page.locator("#error-place")).to_have_text("Put a pin on the map, or use your location.")
    expect(page.locator("#map")).to_be_focused()
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # Leaflet pans the focused map
    centre = page.get_by_role("button", name="Put the pin at the centre of the map")
    for _ in range(6):  # past the map's zoom buttons and "Use my location"
        page.keyboard.press("Tab")
        if centre.evaluate("b => b === document.activeElement"):
            break
    expect(centre).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#place-status")).to_contain_text("Pin placed at")
    page.locator("#radius_m").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#radius-out")).to_have_text("1.1 km")
    page.get_by_label("I have read the privacy notice and accept it").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Join and turn on alerts").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/app/\?joined=1$"), timeout=WAIT_MS)
    me = stored_resident(page)
    sub = requests.get(f"{live.url}/api/v1/subscribers/{me['id']}", headers={"Authorization": f"Bearer {me['secret']}"}, timeout=10).json()
    assert sub["radius_m"] == 1100
    assert (round(sub["lat"], 4), round(sub["lon"], 4)) != (45.4642, 9.19)  # the map had moved east
    assert abs(sub["lat"] - 45.4642) < 0.5 and sub["lon"] > 9.19
    ctx.close()
    assert outside == []


def test_an_offer_shows_its_lower_prices_to_come_and_its_stock_after_reserving(browser, live):
    outside: list[str] = []
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]}, permissions=["geolocation"])
    page = ctx.new_page()
    join_with_pin(page, live)
    key, shop = merchant_with_shop(live)
    now = datetime.now(timezone.utc)
    step_at = (now + timedelta(hours=1)).replace(minute=30, second=0, microsecond=0)
    offer = live.post("/api/v1/offers", {
        "shop_id": shop["id"], "title": "Torta di mele", "category": "pastry", "original_price_cents": 1000,
        "discount_pct": 40, "quantity": 5, "expires_at": (now + timedelta(hours=3)).isoformat(timespec="seconds"),
        "price_steps": [{"at": step_at.isoformat(), "discount_pct": 60}],
    }, key)
    page.goto(f"{live.url}/app/offers/{offer['id']}")
    clock = step_at.astimezone(ZoneInfo("Europe/Rome")).strftime("%H:%M")
    expect(page.locator("#offer-steps li")).to_have_text(f"from {clock}: €4.00 (−60%)", timeout=WAIT_MS)
    expect(page.locator("#offer-price")).to_have_text("€6.00")
    expect(page.locator("#offer-was")).to_have_text("was €10.00")
    expect(page.locator("#offer-left")).to_have_text("5")
    page.get_by_label("How many").select_option("2")
    page.get_by_role("button", name="Reserve and pick up at the shop").click()
    expect(page.locator("#pickup-code")).to_have_text(re.compile(r"\S+"), timeout=WAIT_MS)
    expect(page.locator("#offer-left")).to_have_text("3")
    ctx.close()
    assert outside == []


def test_the_reserve_button_stays_under_the_finger_while_the_page_learns_the_followed_shops(browser, live):
    """The follow button's state comes after the page (the resident's followed shops): neither
    the button nor the line saying the resident follows the shop may appear then above the reserve form and push it down
    under a finger about to tap it (a tap that then lands beside the button reserves nothing)."""
    outside: list[str] = []
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]}, permissions=["geolocation"])
    try:
        page = ctx.new_page()
        me = join_with_pin(page, live)
        key, shop = merchant_with_shop(live)
        offer = post_offer(live, key, shop)
        held: list = []
        ctx.route("**/favorites", lambda route: held.append(route))  # answered once the form has been seen

        def reserve_box_before_and_after_the_answer(button_then: str) -> tuple[dict, dict]:
            held.clear()
            page.goto(f"{live.url}/app/offers/{offer['id']}")
            reserve = page.get_by_role("button", name="Reserve and pick up at the shop")
            expect(reserve).to_be_visible(timeout=WAIT_MS)
            for _ in range(WAIT_MS // 50):
                if held:
                    break
                page.wait_for_timeout(50)
            assert held, "the page did not ask for the followed shops"
            # While the answer is awaited the button is there already, not yet usable.
            expect(page.get_by_role("button", name="Follow this shop")).to_be_disabled()
            before = reserve.bounding_box()
            held[0].continue_()
            expect(page.get_by_role("button", name=button_then)).to_be_enabled(timeout=WAIT_MS)
            return before, reserve.bounding_box()

        before, after = reserve_box_before_and_after_the_answer("Follow this shop")
        assert after == before
        # A resident who follows the shop: the button turns, and a line says so under it.
        followed = requests.post(f"{live.url}/api/v1/subscribers/{me['id']}/favorites", json={"shop_id": shop["id"]},
                                 headers={"Authorization": f"Bearer {me['secret']}"}, timeout=10)
        assert followed.status_code in (200, 201), followed.text
        before, after = reserve_box_before_and_after_the_answer("Stop following this shop")
        expect(page.locator("#follow-status")).to_have_text("You follow this shop: its offers reach you first.")
        assert after == before
    finally:
        ctx.close()
    assert outside == []


def test_following_a_shop_and_changing_the_settings_with_another_place(browser, live):
    outside: list[str] = []
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]}, permissions=["geolocation"])
    page = ctx.new_page()
    me = join_with_pin(page, live)
    key, shop = merchant_with_shop(live)
    offer = post_offer(live, key, shop)
    page.goto(f"{live.url}/app/offers/{offer['id']}")
    follow = page.get_by_role("button", name="Follow this shop")
    follow.click()
    expect(page.get_by_role("button", name="Stop following this shop")).to_have_attribute("aria-pressed", "true")

    page.get_by_role("link", name="Settings").click()
    expect(page.locator("#favorites")).to_contain_text("Forno Rossi", timeout=WAIT_MS)
    expect(page.locator("#radius-out")).to_have_text("1 km")
    page.locator("#radius_m").fill("2000")
    page.get_by_label("pastry").check()
    page.get_by_role("button", name="Add the pin as a place").click()
    place = page.locator("#place-list li").first
    expect(place.locator('[data-name="where"]')).to_have_text(re.compile(r"^Latitude 4\d\.\d+, longitude 9\.\d+$"))
    place.get_by_label("Name of the place").fill("Work")
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri"):
        place.get_by_label(day).check()
    place.get_by_label("From").fill("09:00")
    place.get_by_label("To").fill("18:00")
    page.get_by_label("Also tell me when a price drops").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#status")).to_have_text("Saved.", timeout=WAIT_MS)

    sub = requests.get(f"{live.url}/api/v1/subscribers/{me['id']}", headers={"Authorization": f"Bearer {me['secret']}"}, timeout=10).json()
    assert sub["radius_m"] == 2000 and sorted(sub["categories"]) == ["bakery", "pastry"] and sub["price_drops"] is True
    assert [(p["label"], p["days"], p["hours"]) for p in sub["places"]] == [
        ("Work", ["mon", "tue", "wed", "thu", "fri"], {"start": "09:00", "end": "18:00"})]
    favorites = requests.get(f"{live.url}/api/v1/subscribers/{me['id']}/favorites", headers={"Authorization": f"Bearer {me['secret']}"}, timeout=10).json()
    assert [f["shop_id"] for f in favorites["items"]] == [shop["id"]]

    # Near me can look around the other place too.
    page.get_by_role("link", name="Near me").click()
    expect(page.get_by_label("Around", exact=True)).to_contain_text("Work", timeout=WAIT_MS)
    ctx.close()
    assert outside == []


# A shop's name is the merchant's to choose: markup in it must stay text (no link, no image, no
# meta refresh sending the resident elsewhere), on the offer's map and on the map of Near me.
EVIL_NAME = ('<a id="pwn" href="https://evil.example/login">Verify your account</a>'
             '<img id="pwnimg" src="x" onerror="window.__pwned=1">'
             '<meta http-equiv="refresh" content="3;url=https://evil.example/">')


def test_markup_in_a_shop_name_is_shown_as_text_on_the_maps(browser, live):
    outside: list[str] = []
    ctx = phone(browser, live, outside, geolocation={"latitude": HOME[0], "longitude": HOME[1]}, permissions=["geolocation"])
    page = ctx.new_page()
    join_with_pin(page, live)
    key = live.post("/api/v1/merchants", {"name": "Evil", "email": "evil@shop.example"})["api_key"]
    shop = live.post("/api/v1/shops", {"name": EVIL_NAME, "category": "bakery", "lat": HOME[0] - 0.0018, "lon": HOME[1]}, key)
    offer = post_offer(live, key, shop)
    page.goto(f"{live.url}/app/offers/{offer['id']}")
    tooltip = page.locator("#map .leaflet-tooltip").first
    expect(tooltip).to_have_text(EVIL_NAME, timeout=WAIT_MS)  # the name, as written
    expect(page.locator("#shop-name")).to_have_text(EVIL_NAME)
    # The markup never became elements: no link, no image whose error handler ran, no meta refresh.
    assert page.evaluate("document.querySelectorAll('#pwn, #pwnimg, meta[http-equiv]').length") == 0
    assert page.evaluate("window.__pwned") is None
    page.goto(f"{live.url}/app/")
    page.locator("#map .leaflet-interactive").last.click(force=True)
    popup = page.locator("#map .leaflet-popup-content")
    expect(popup).to_contain_text(EVIL_NAME, timeout=WAIT_MS)
    assert page.evaluate("document.querySelectorAll('#pwn, #pwnimg, meta[http-equiv]').length") == 0
    ctx.close()
    assert outside == []


WATCH_JS = """() => {
  window.__rebuilt = [];
  const watch = id => new MutationObserver(() => window.__rebuilt.push(id)).observe(document.getElementById(id), {childList: true});
  watch("alerts"); watch("offers");
}"""


def test_near_me_keeps_the_keyboards_place_and_the_panned_map_while_it_refreshes(browser, live):
    """Near me looks for new alerts every 2 s and new offers every minute: with nothing new, the
    alert link the keyboard is on keeps the focus, the lists are not rebuilt, the map stays where
    the resident moved it."""
    outside: list[str] = []
    ctx, page, _ = joined_phone(browser, live, outside)
    key, shop = merchant_with_shop(live)
    post_offer(live, key, shop)
    expect(page.locator("#alerts li")).to_have_count(1, timeout=WAIT_MS)
    page.clock.install()
    page.goto(live.url + "/app/")
    expect(page.locator("#alerts li")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("#offers li")).to_have_count(1, timeout=WAIT_MS)
    page.locator("#map").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # the resident pans the map
    page.clock.run_for(1_000)  # the panning's animation ends
    pane = page.locator("#map .leaflet-map-pane")
    panned = pane.evaluate("p => p.style.transform")
    page.evaluate(WATCH_JS)
    page.locator("#alerts a").first.focus()
    with page.expect_response(lambda r: "/api/v1/deals" in r.url, timeout=WAIT_MS):
        page.clock.run_for(61_000)  # 30 looks at the alerts, one at the offers
    page.wait_for_timeout(500)  # the answer drawn (or, now, found unchanged)
    assert page.evaluate("window.__rebuilt") == []
    assert page.evaluate("document.activeElement.closest('#alerts') !== null")
    assert pane.evaluate("p => p.style.transform") == panned
    ctx.close()
    assert outside == []
