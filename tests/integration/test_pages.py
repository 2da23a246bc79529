"""The pages through Flask's test client: sign-in, CSRF, cookie flags, errors by field, no 500s."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest

from dealsvc.domain import privacy, waves
from tests.support.api import ADMIN_TOKEN

from tests.support.pages import MILAN, csrf, field_error, sign_in_shop  # noqa: F401


@pytest.fixture
def shopkeeper(client, api):
    m = api.merchant()
    shop = api.shop(m["api_key"], name="Forno Rossi")
    assert sign_in_shop(client, m["api_key"]).status_code == 303
    page = client.get("/shop/")
    return {"key": m["api_key"], "shop": shop, "csrf": csrf(page.text)}


from tests.support.pages import offer_form  # noqa: F401


def test_a_post_without_the_csrf_token_is_refused(client, api):
    key = api.merchant()["api_key"]
    client.get("/shop/")
    r = client.post("/shop/signin", data={"secret": key})
    assert r.status_code == 400
    assert "The form has expired" in r.text
    assert "Sign in with your shop's API key" in client.get("/shop/").text


def test_a_wrong_csrf_token_does_not_post_an_offer(client, shopkeeper, api):
    r = client.post("/shop/offers", data=offer_form(shopkeeper, csrf_token="forged"))
    assert r.status_code == 400
    listed = client.get(f"/shop/?shop={shopkeeper['shop']['id']}").text
    assert "No offers yet." in listed


def test_a_wrong_api_key_shows_an_error_next_to_the_field(client):
    token = csrf(client.get("/shop/").text)
    r = client.post("/shop/signin", data={"secret": "dsm_not-a-key", "csrf_token": token})
    assert r.status_code == 401
    assert field_error(r.text, "secret") == "This is not a valid merchant API key."
    assert 'aria-describedby="secret-error"' in r.text


def test_the_operator_token_does_not_open_the_shop_page_nor_a_key_the_console(client, api):
    token = csrf(client.get("/shop/").text)
    r = client.post("/shop/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token})
    assert field_error(r.text, "secret") == "This is not a valid merchant API key."
    key = api.merchant()["api_key"]
    token = csrf(client.get("/admin/").text)
    r = client.post("/admin/signin", data={"secret": key, "csrf_token": token})
    assert r.status_code == 401
    assert field_error(r.text, "secret") == "This is not the operator token."


def test_the_session_cookie_is_httponly_samesite_lax_and_secure_over_https(client, api):
    key = api.merchant()["api_key"]
    cookie = sign_in_shop(client, key).headers["Set-Cookie"]
    assert cookie.startswith("dealsvc_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in development: a Secure cookie would never come back
    assert key not in cookie

    secure = client.application.test_client()
    token = csrf(secure.get("/shop/", base_url="https://shop.example").text)
    r = secure.post("/shop/signin", data={"secret": key, "csrf_token": token}, base_url="https://shop.example")
    assert r.status_code == 303
    assert "; Secure" in r.headers["Set-Cookie"]


def test_signing_in_then_posting_an_offer_lists_it_with_its_figures(client, shopkeeper):
    r = client.post("/shop/offers", data=offer_form(shopkeeper))
    assert r.status_code == 303
    page = client.get(r.headers["Location"]).text
    assert "Posted “Pane di ieri” at 50 % off" in page
    assert "€2.00" in page and "<s>€4.00</s>" in page
    assert "6 of 6" in page


def test_a_discount_outside_the_band_is_shown_next_to_the_discount(client, shopkeeper):
    r = client.post("/shop/offers", data=offer_form(shopkeeper, discount_pct="20"))
    assert r.status_code == 422
    assert field_error(r.text, "discount_pct") == (
        "must lie within 40%–60% (operator rules min_discount_pct, max_discount_pct)."
    )
    # What was typed stays in the form.
    assert 'value="Pane di ieri"' in r.text


def test_an_expiry_beyond_the_horizon_is_shown_next_to_until(client, shopkeeper):
    far = (datetime.now(MILAN) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    r = client.post("/shop/offers", data=offer_form(shopkeeper, expires_at=far))
    assert r.status_code == 422
    assert "must be at most 72 h ahead" in field_error(r.text, "expires_at")


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"original_price": "four"}, "original_price", "Enter an amount such as 4.50."),
        ({"original_price": "4.505"}, "original_price", "Enter an amount with at most two decimals, such as 4.50."),
        ({"original_price": "-1"}, "original_price", "Must be more than zero."),
        ({"discount_pct": "NaN"}, "discount_pct", "Enter a percentage such as 50."),
        ({"quantity": "1e9"}, "quantity", "Enter a whole number."),
        ({"quantity": "0"}, "quantity", "Must be between 1 and 999."),
        ({"expires_at": "tomorrow"}, "expires_at", "Enter a date and time such as 2026-11-22T19:30."),
        ({"category": "gold"}, "category", "Pick a category from the list."),
        ({"title": ""}, "title", "Required."),
        ({"title": "x" * 500}, "title", "Must be at most 120 characters."),
        ({"title": "Pane \u202egnp.exe"}, "title", "Must not contain bidirectional or invisible formatting characters (such as U+202E)."),
    ],
)
def test_bad_offer_input_is_an_error_by_the_field_never_a_500(client, shopkeeper, changes, field, message):
    r = client.post("/shop/offers", data=offer_form(shopkeeper, **changes))
    assert r.status_code == 422
    assert field_error(r.text, field) == message


@pytest.mark.parametrize(
    "path, form",
    [
        ("/shop/offers", "shop_id=%00&title=%FF%FE&category=bakery&original_price=1&discount_pct=50&quantity=1"
                         "&tz=..%2F..%2Fetc%2Fpasswd&expires_at=2030-01-01T10%3A00"),
        ("/shop/offers", {"shop_id": "shp_nope", "title": "t", "category": "bakery", "original_price": "1",
                          "discount_pct": "50", "quantity": "1", "expires_at": "2030-01-01T10:00", "tz": "Mars/Base"}),
        ("/shop/offers/off_nope/quantity", {"quantity": "-5"}),
        ("/shop/offers/off_nope/quantity", {"quantity": "3"}),
        ("/shop/offers/off_nope/withdraw", {}),
        ("/shop/offers/off_nope/collect", {"code": ""}),
        ("/shop/offers/off_nope/collect", {"code": "ABC234"}),
        ("/shop/shops", {"name": "", "lat": "91", "lon": "x"}),
        ("/shop/shops", {"name": "Latteria", "category": "dairy", "address": "Via Roma 1"}),
    ],
)
def test_the_shop_pages_never_answer_500(client, shopkeeper, path, form):
    if isinstance(form, str):  # raw bytes a test client would refuse to encode: NUL, invalid UTF-8
        r = client.post(path, data=f"csrf_token={shopkeeper['csrf']}&{form}".encode(),
                        content_type="application/x-www-form-urlencoded")
    else:
        r = client.post(path, data={"csrf_token": shopkeeper["csrf"], **form})
    assert r.status_code in (303, 400, 404, 409, 422), r.text
    assert r.mimetype == "text/html"


from tests.support.pages import console_rules


def test_the_operator_changes_the_band_and_the_shop_page_follows(client, api, shopkeeper):
    operator = client.application.test_client()
    token = csrf(operator.get("/admin/").text)
    assert operator.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token}).status_code == 303
    console = operator.get("/admin/").text
    rules = console_rules(console)
    r = operator.post("/admin/rules", data={**rules, "min_discount_pct": "30", "max_discount_pct": "70", "csrf_token": csrf(console)})
    assert r.status_code == 303
    console = operator.get("/admin/").text
    assert "<td>min_discount_pct</td><td>40</td><td>30</td>" in console

    page = client.get("/shop/").text
    assert 'type="range" min="30" max="70"' in page
    assert "allowed now: 30–70 %" in page


def test_inconsistent_or_malformed_rules_are_shown_by_the_field(client):
    token = csrf(client.get("/admin/").text)
    client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token})
    console = client.get("/admin/").text
    base = {"min_discount_pct": "40", "max_discount_pct": "60", "default_radius_m": "1000", "max_radius_m": "5000",
            "max_offer_horizon_h": "72", "min_offer_lifetime_s": "600", "max_notifications_per_day": "5",
            "max_shops_per_merchant": "20", "waves_enabled": "true", "wave_factor": "5", "wave_interval_s": "600",
            "max_reservation_quantity": "2", "max_active_holds": "3", "hold_minutes": "30", "csrf_token": csrf(console)}
    r = client.post("/admin/rules", data={**base, "min_discount_pct": "70"})
    assert r.status_code == 422
    assert field_error(r.text, "min_discount_pct") == "must not exceed max_discount_pct (60)."
    r = client.post("/admin/rules", data={**base, "max_radius_m": "lots", "max_discount_pct": "100"})
    assert r.status_code == 422
    assert field_error(r.text, "max_radius_m") == "Enter whole metres."
    assert field_error(r.text, "max_discount_pct") == "Must be from 0 up to (not including) 100."
    assert client.get("/api/v1/admin/rules", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json["min_discount_pct"] == 40


def test_the_operator_approves_and_suspends_merchants(client, api):
    m = api.merchant(name="Latteria Bianchi")
    token = csrf(client.get("/admin/").text)
    client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token})
    console = client.get("/admin/").text
    r = client.post(f"/admin/merchants/{m['id']}/suspend", data={"csrf_token": csrf(console)})
    assert r.status_code == 303
    assert "Latteria Bianchi is now suspended." in client.get("/admin/").text

    shop = client.application.test_client()
    sign_in_shop(shop, m["api_key"])
    assert "Your account is suspended" in shop.get("/shop/").text

    r = client.post(f"/admin/merchants/{m['id']}/approve", data={"csrf_token": csrf(console)})
    assert "Latteria Bianchi is now active." in client.get("/admin/").text
    assert client.post(f"/admin/merchants/{m['id']}/delete", data={"csrf_token": csrf(console)}).status_code == 404
    assert client.post("/admin/merchants/mer_nope/approve", data={"csrf_token": csrf(console)}).status_code == 404


def test_the_console_needs_the_operator_and_previews_reach(client, api):
    assert client.post("/admin/rules", data={}).status_code == 400  # no CSRF token, no session
    token = csrf(client.get("/admin/").text)
    assert client.post("/admin/rules", data={"csrf_token": token}).status_code == 303  # not signed in: back to sign-in
    client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token})
    api.subscriber(lat=45.4650, lon=9.1900, radius_m=1000)
    api.subscriber(lat=45.5200, lon=9.1900, radius_m=1000)
    page = client.get("/admin/?lat=45.4642&lon=9.19").text
    assert '<strong id="reach-result">1</strong>' in page
    page = client.get("/admin/?lat=95&lon=abc")
    assert page.status_code == 200
    assert field_error(page.text, "lat") == "Must be between -90 and 90."
    assert field_error(page.text, "lon") == "Enter a longitude such as 9.19."


def test_signing_out_ends_the_session(client, shopkeeper):
    r = client.post("/shop/signout", data={"csrf_token": shopkeeper["csrf"]})
    assert r.status_code == 303
    assert "Sign in with your shop's API key" in client.get("/shop/").text
    assert client.get(f"/shop/reach?shop_id={shopkeeper['shop']['id']}").status_code == 302


def test_the_inbox_json_lists_a_phone_and_marks_a_withdrawn_alert(app, client):
    store = app.extensions["fcm-emulator"]
    alert = {"token": "phone-a", "notification": {"title": "-50 % Pane", "body": "€2.00 instead of €4.00"},
             "data": {"type": "offer", "offer_id": "off_1"}, "android": {"collapse_key": "offer-off_1"}}
    store.record("phone-a", "p", alert)
    assert client.get("/emulator/inbox.json").json["phones"][0]["notifications"][0]["withdrawn"] is False
    store.record("phone-a", "p", {"token": "phone-a", "data": {"type": "withdrawn", "offer_id": "off_1"},
                                  "android": {"collapse_key": "offer-off_1"}})
    phones = client.get("/emulator/inbox.json").json["phones"]
    assert [p["token"] for p in phones] == ["phone-a"]
    [shown] = phones[0]["notifications"]
    assert shown["title"] == "-50 % Pane" and shown["withdrawn"] is True


# --- smarter alerts: waves, followers and price steps on the pages -------------------------


from tests.support.pages import sign_in_operator  # noqa: F401,E402


def api_rules() -> dict:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_the_console_saves_the_wave_rules_and_the_waves_box_means_what_it_shows(client):
    console = sign_in_operator(client)
    assert '<label for="waves_enabled">Tell residents in waves</label>' in console
    assert '<label for="wave_factor">Residents per item left, in each wave</label>' in console
    assert '<label for="wave_interval_s">Time between waves (s)</label>' in console
    assert 'aria-describedby="wave_factor-hint"' in console and 'id="wave_interval_s-hint"' in console
    rules = console_rules(console)
    assert rules["waves_enabled"] == "true" and rules["wave_factor"] == "5" and rules["wave_interval_s"] == "600"

    # Unticked, the box sends nothing: that must turn waves off, not leave them as they were.
    del rules["waves_enabled"]
    r = client.post("/admin/rules", data={**rules, "wave_factor": "3", "wave_interval_s": "120", "csrf_token": csrf(console)})
    assert r.status_code == 303
    stored = client.get("/api/v1/admin/rules", headers=api_rules()).json
    assert (stored["waves_enabled"], stored["wave_factor"], stored["wave_interval_s"]) == (False, 3, 120)
    console = client.get("/admin/").text
    assert "waves_enabled" not in console_rules(console)
    assert "<td>wave_factor</td><td>5</td><td>3</td>" in console
    assert "<td>wave_interval_s</td><td>600</td><td>120</td>" in console

    # Saving something else leaves the box as shown (off), and ticking it turns waves on again.
    rules = console_rules(console)
    assert client.post("/admin/rules", data={**rules, "max_notifications_per_day": "4", "csrf_token": csrf(console)}).status_code == 303
    assert client.get("/api/v1/admin/rules", headers=api_rules()).json["waves_enabled"] is False
    rules = console_rules(client.get("/admin/").text)
    assert client.post("/admin/rules", data={**rules, "waves_enabled": "true", "csrf_token": csrf(console)}).status_code == 303
    stored = client.get("/api/v1/admin/rules", headers=api_rules()).json
    assert (stored["waves_enabled"], stored["wave_factor"], stored["max_notifications_per_day"]) == (True, 3, 4)
    assert "waves_enabled" in console_rules(client.get("/admin/").text)


def test_wave_rules_out_of_range_are_shown_by_the_field_and_change_nothing(client):
    console = sign_in_operator(client)
    rules = console_rules(console)
    del rules["waves_enabled"]
    r = client.post("/admin/rules", data={**rules, "wave_factor": "0", "wave_interval_s": "10", "csrf_token": csrf(console)})
    assert r.status_code == 422
    assert field_error(r.text, "wave_factor") == "Must be between 1 and 1000."
    assert field_error(r.text, "wave_interval_s") == "Must be between 30 and 86400 s."
    assert 'aria-describedby="wave_factor-hint wave_factor-error" aria-invalid="true"' in r.text
    # The form comes back as sent: the box unticked, the values typed.
    assert "waves_enabled" not in console_rules(r.text)
    assert 'id="wave_factor" name="wave_factor" inputmode="numeric" value="0"' in r.text
    r = client.post("/admin/rules", data={**rules, "wave_factor": "lots", "wave_interval_s": "", "csrf_token": csrf(console)})
    assert field_error(r.text, "wave_factor") == "Enter a whole number."
    assert field_error(r.text, "wave_interval_s") == "Required."
    stored = client.get("/api/v1/admin/rules", headers=api_rules()).json
    assert (stored["waves_enabled"], stored["wave_factor"], stored["wave_interval_s"]) == (True, 5, 600)


def test_the_console_previews_the_waves_of_a_quantity_by_category(client, api):
    sign_in_operator(client)
    for i in range(7):
        api.subscriber(lat=45.4650 + i * 0.0003, lon=9.1900, radius_m=2000, categories=["bakery"])
    api.subscriber(lat=45.4650, lon=9.1905, radius_m=2000, categories=["dairy"])

    page = client.get("/admin/?lat=45.4642&lon=9.19").text
    assert '<strong id="reach-result">8</strong>' in page
    assert 'id="waves-table"' not in page  # no quantity, no waves

    # 1 item, 5 residents a wave (the default factor): 5 at once, then 3 more ten minutes later.
    page = client.get("/admin/?lat=45.4642&lon=9.19&quantity=1").text
    assert "How an offer of 1 item there would go out, if nothing sold meanwhile</caption>" in page
    assert ("<tbody><tr><td>1</td><td>at once</td><td>5</td></tr>"
            "<tr><td>2</td><td>after 10 min</td><td>3</td></tr></tbody>") in page

    page = client.get("/admin/?lat=45.4642&lon=9.19&quantity=1&category=bakery").text
    assert '<strong id="reach-result">7</strong>' in page
    assert '<option value="bakery" selected>' in page
    assert "<tr><td>2</td><td>after 10 min</td><td>2</td></tr>" in page

    api.rules(waves_enabled=False)
    page = client.get("/admin/?lat=45.4642&lon=9.19&quantity=1&category=").text
    assert "(waves are off: all at once)</caption>" in page
    assert "<tbody><tr><td>1</td><td>at once</td><td>8</td></tr></tbody>" in page

    page = client.get("/admin/?lat=-45.4642&lon=9.19&quantity=3").text
    assert '<strong id="reach-result">0</strong>' in page and 'id="waves-none"' in page

    r = client.get("/admin/?lat=45.4642&lon=9.19&quantity=0&category=gold")
    assert r.status_code == 200
    assert field_error(r.text, "quantity") == "Must be between 1 and 999."
    assert field_error(r.text, "reach-category") == "Pick a category from the list."
    assert field_error(client.get("/admin/?lat=45.4642&lon=9.19&quantity=many").text, "quantity") == "Enter a whole number."


def follow(api, resident: dict, shop_id: str) -> None:
    r = api.c.post(f"/api/v1/subscribers/{resident['id']}/favorites", json={"shop_id": shop_id},
                   headers=api.h(resident["secret"]))
    assert r.status_code == 201, r.json


def test_the_posting_form_shows_the_waves_for_the_quantity_and_counts_the_followers(client, api, container, shopkeeper):
    shop = shopkeeper["shop"]
    shop_id = shop["id"]
    page = client.get("/shop/").text
    assert "Nobody follows Forno Rossi yet" in page
    assert '<strong id="reach-out">fewer than 20</strong> residents nearby now.' in page
    assert ('<p class="waves" id="waves-out" aria-live="polite">Too few residents nearby to show (fewer than 20): '
            "they are all told at once.</p>") in page

    for i in range(30):
        api.subscriber(lat=45.4650 + i * 0.0003, lon=9.1900, radius_m=3000)
    # 3 km away with a 500 m radius: out of reach, but a follower hears of the shop's offers all the same.
    far = api.subscriber(lat=45.4912, lon=9.1900, radius_m=500)
    follow(api, far, shop_id)

    # The merchant sees the 30 in reach only coarse (domain/privacy.py), counted at the shop's cell.
    cell = privacy.snap(shop["lat"], shop["lon"])[0]
    shown = privacy.coarse(30, container.figures.secret, f"cell:{cell}")
    assert shown in (20, 30)
    page = client.get("/shop/").text
    assert '<strong id="followers-count">1</strong> resident follows Forno Rossi' in page
    assert f'<strong id="reach-out">about {shown}</strong> residents nearby now.' in page
    # The form's default: 5 items, 25 residents a wave.
    plan = waves.plan(shown, 0, enabled=True, factor=5, interval_s=600, quantity=5, lifetime_s=7200)
    assert len(plan) == (1 if shown <= 25 else 2)

    r = client.get(f"/shop/reach?shop_id={shop_id}&category=bakery&quantity=1&lifetime_s=7200")
    assert r.status_code == 200
    assert r.json["residents"] == shown and r.json["residents_text"] == f"about {shown}" and r.json["followers"] == 1
    expected = [{"wave": w, "after_s": (w - 1) * 600, "residents": 5} for w in range(1, shown // 5 + 1)]
    assert r.json["waves"] == expected
    assert r.json["waves_text"].startswith(f"Told in {shown // 5} waves while stock lasts (your followers first, "
                                           "then the nearest), about: 5 at once, 5 after 10 min, 5 after 20 min, ")
    # Waves after the offer's end never go out.
    r = client.get(f"/shop/reach?shop_id={shop_id}&quantity=1&lifetime_s=900")
    assert [w["residents"] for w in r.json["waves"]] == [5, 5]
    r = client.get(f"/shop/reach?shop_id={shop_id}&quantity=abc&lifetime_s=-5&category=gold")
    assert r.status_code == 200 and r.json["waves"] == [] and r.json["category"] == "bakery" and r.json["followers"] == 1
    assert r.json["waves_text"] == "Enter how many to see how the offer goes out."

    # A form sent back with errors previews the quantity it holds.
    r = client.post("/shop/offers", data=offer_form(shopkeeper, quantity="1", title=""))
    assert r.status_code == 422
    assert f"Told in {shown // 5} waves while stock lasts (your followers first, then the nearest), about: 5 at once" in r.text

    # Another merchant's shop is no business of this page.
    other = api.merchant()
    other_shop = api.shop(other["api_key"], name="Latteria")
    assert client.get(f"/shop/reach?shop_id={other_shop['id']}&quantity=1").status_code == 404


def expand_due(container) -> None:
    """Every fan-out due now turned into notifications (the pushes themselves are not sent)."""
    for _ in range(20):
        if not container.dispatcher.expand_one():
            return
    raise AssertionError("the fan-outs did not settle")


def _run_due_wave(container, offer_id: str) -> None:
    """The dispatcher's next wave of the offer, made due now rather than after the interval."""
    from sqlalchemy import update

    from dealsvc.adapters.db.models import Fanout

    with container.db.write() as s:
        s.execute(update(Fanout).where(Fanout.offer_id == offer_id, Fanout.done_at.is_(None))
                  .values(due_at=container.clock() - timedelta(seconds=1)))
    expand_due(container)


def offer_row(html: str, offer_id: str) -> str:
    start = html.index(f'id="offer-{offer_id}"')
    end = html.find('<li class="offer ', start)
    return html[start:end if end != -1 else html.index("</section>", start)]


def test_each_offer_shows_who_was_reached_in_each_wave_and_what_comes_next(client, api, container, shopkeeper):
    for i in range(30):
        api.subscriber(lat=45.4650 + i * 0.0003, lon=9.1900, radius_m=3000)
    offer = api.offer(shopkeeper["key"], shopkeeper["shop"]["id"], quantity=1)
    row = offer_row(client.get("/shop/").text, offer["id"])
    assert f'<p class="waves-line" id="waves-{offer["id"]}">Wave 1 going out now.</p>' in row

    expand_due(container)
    row = offer_row(client.get("/shop/").text, offer["id"])
    due = container.clock() + timedelta(seconds=600)
    shown = re.search(r'id="waves-[^"]+">(.*?)</p>', row, re.S).group(1)
    # 5 told: too few to show a merchant (domain/privacy.py).
    assert shown.startswith("Wave 1: fewer than 20 residents. Next wave at <time datetime=")
    # On the shop's clock (its zone is found from its place: Milan), as the page says.
    assert re.search(r'class="local-time clock">(?:\d+ \w+ )?(\d\d:\d\d)</time>', shown).group(1) in {
        due.astimezone(MILAN).strftime("%H:%M"), (due + timedelta(seconds=5)).astimezone(MILAN).strftime("%H:%M")}
    assert "Times are on the shop's clock (Europe/Rome)." in client.get("/shop/").text

    _run_due_wave(container, offer["id"])
    shown = re.search(r'id="waves-[^"]+">(.*?)</p>', offer_row(client.get("/shop/").text, offer["id"]), re.S).group(1)
    # Wave 2 told 5 more: too few to show, so not listed; the next is shown every interval
    # whether or not anyone is left (whether anyone is would be an exact count).
    assert shown.startswith("Wave 1: fewer than 20 residents. Next wave at ")

    r = client.patch(f"/api/v1/offers/{offer['id']}", json={"status": "sold_out"}, headers=api.h(shopkeeper["key"]))
    assert r.status_code == 200, r.json
    _run_due_wave(container, offer["id"])  # finds the offer sold out: tells nobody, plans nothing
    shown = re.search(r'id="waves-[^"]+">(.*?)</p>', offer_row(client.get("/shop/").text, offer["id"]), re.S).group(1)
    assert shown == "Wave 1: fewer than 20 residents. No more waves: sold out."

    # With waves off, one wave tells everyone (30: shown coarse); a withdrawn offer says so.
    api.rules(waves_enabled=False)
    second = api.offer(shopkeeper["key"], shopkeeper["shop"]["id"], title="Focaccia", quantity=1)
    expand_due(container)
    coarse = privacy.coarse(30, container.figures.secret, f"shop:{shopkeeper['shop']['id']}")
    everyone = f"about {coarse}" if coarse else f"fewer than {privacy.FEW}"
    assert everyone in ("about 30", "about 20")
    row = offer_row(client.get("/shop/").text, second["id"])
    shown = re.search(r'id="waves-[^"]+">(.*?)</p>', row, re.S).group(1)
    assert shown == f"Wave 1: {everyone} residents. No more waves: everyone in reach was told."
    assert f"<dt>Reach</dt><dd>{everyone}</dd>" in row
    r = client.post(f"/shop/offers/{second['id']}/withdraw", data={"csrf_token": shopkeeper["csrf"]})
    assert r.status_code == 303
    shown = re.search(r'id="waves-[^"]+">(.*?)</p>', offer_row(client.get("/shop/").text, second["id"]), re.S).group(1)
    assert shown == f"Wave 1: {everyone} residents. No more waves: withdrawn."

    # Another merchant sees neither the offers nor their waves.
    other = client.application.test_client()
    sign_in_shop(other, api.merchant()["api_key"])
    assert offer["id"] not in other.get(f"/shop/?shop={shopkeeper['shop']['id']}").text




def hhmm(minutes: int) -> str:
    """A time `minutes` from now on the shop's clock, as the form's "From" takes it."""
    return (datetime.now(MILAN) + timedelta(minutes=minutes)).strftime("%H:%M")


def test_price_steps_posted_from_the_form_are_listed_with_the_next_change(client, api, container, shopkeeper):
    page = client.get("/shop/").text
    assert '<details class="price-steps" id="price-steps">' in page  # collapsed: most offers have none
    assert '<label for="step1_at">From</label>' in page and '<label for="step3_discount_pct">% off</label>' in page

    # Row 2 left empty: the API gets two steps, the form's rows 1 and 3.
    r = client.post("/shop/offers", data=offer_form(shopkeeper, step1_at=hhmm(30), step1_discount_pct="55",
                                                     step3_at=hhmm(60), step3_discount_pct="60"))
    assert r.status_code == 303, r.text
    page = client.get(r.headers["Location"]).text
    assert "Posted “Pane di ieri” at 50 % off; the residents nearby are being told. 2 lower prices scheduled." in page
    offer_id = re.search(r'id="offer-(off_[^"]+)"', page).group(1)
    offer = client.get(f"/api/v1/offers/{offer_id}").json
    assert [(s["price_cents"], s["discount_pct"], s["applied"]) for s in offer["price_steps"]] == [(180, 55, False), (160, 60, False)]
    first = datetime.fromisoformat(offer["price_steps"][0]["at"].replace("Z", "+00:00"))
    assert first.astimezone(MILAN).strftime("%H:%M") in (hhmm(30), hhmm(29))
    assert offer["next_price_at"] == offer["price_steps"][0]["at"]

    row = offer_row(page, offer_id)
    assert "<li>from <time" in row and "€1.80 (−55 %)</li>" in row and "€1.60 (−60 %)</li>" in row
    shown = first.astimezone(MILAN).strftime("%H:%M")  # the shop's clock
    # (with the date in front once that is tomorrow on the shop's clock)
    assert re.search(rf'Next price change at <time datetime="{re.escape(first.isoformat())}" '
                     rf'class="local-time clock">(\d+ \w+ )?{shown}</time>\.', row), row

    # Once the first step applies, the page marks it and points at the second.
    from dealsvc.services.price_steps import PriceStepService
    from dealsvc.adapters.db.store import Store

    later = datetime.now(timezone.utc) + timedelta(minutes=31)
    assert PriceStepService(Store(container.db), lambda: later).apply_due() == [(offer_id, 1)]
    row = offer_row(client.get("/shop/").text, offer_id)
    assert '<li class="applied">from <time' in row and '€1.80 (−55 %) <span class="badge">applied</span></li>' in row
    assert "€1.80 <s>€4.00</s> · −55 %" in row
    second = offer["price_steps"][1]["at"].replace("Z", "+00:00")
    assert f'Next price change at <time datetime="{datetime.fromisoformat(second).isoformat()}"' in row


@pytest.mark.parametrize(
    "steps, field, message",
    [
        ({"step1_at": "+30"}, "step1_discount_pct", "Give the discount from this time on."),
        ({"step2_discount_pct": "55"}, "step2_at", "Give the time this discount starts."),
        ({"step1_at": "25:00", "step1_discount_pct": "55"}, "step1_at", "Enter a time such as 19:30."),
        ({"step1_at": "+30", "step1_discount_pct": "lots"}, "step1_discount_pct", "Enter a percentage such as 55."),
        ({"step1_at": "+30", "step1_discount_pct": "100"}, "step1_discount_pct", "Must be between 0 and 100."),
        # From here on the API's own rules and messages, by the row they came from.
        ({"step1_at": "+30", "step1_discount_pct": "70"}, "step1_discount_pct",
         "must lie within 40%–60% (operator rules min_discount_pct, max_discount_pct)."),
        ({"step1_at": "+30", "step1_discount_pct": "45"}, "step1_discount_pct",
         "gives 220 cents; must be below the offer's price (200 cents)."),
        ({"step2_at": "+30", "step2_discount_pct": "55", "step3_at": "+20", "step3_discount_pct": "60"}, "step3_at",
         "must be after the step before it (price_steps.0.at)."),
        ({"step3_at": "+180", "step3_discount_pct": "55"}, "step3_at", "must be before expires_at"),
    ],
)
def test_price_step_errors_are_shown_by_the_row_they_came_from(client, shopkeeper, steps, field, message):
    sent = {k: hhmm(int(v[1:])) if k.endswith("_at") and v.startswith("+") else v for k, v in steps.items()}
    r = client.post("/shop/offers", data=offer_form(shopkeeper, **sent))
    assert r.status_code == 422
    shown = unescape(field_error(r.text, field) or "")
    assert shown.startswith(message), shown
    assert f'id="{field}"' in r.text and f'aria-describedby="{field}-error"' in r.text
    # The steps stay open, as typed, and nothing was posted.
    assert '<details class="price-steps" id="price-steps" open>' in r.text
    for name, value in sent.items():
        assert f'name="{name}"' in r.text and f'value="{value}"' in r.text
    assert "No offers yet." in r.text


def test_odd_price_step_input_never_answers_500(client, shopkeeper):
    for steps in ({"step1_at": "\u00a0", "step1_discount_pct": " "}, {"step1_at": "19:30:00.5", "step1_discount_pct": "55"},
                  {"step1_at": "x" * 5000, "step1_discount_pct": "1e400"}, {"step1_at": "00:00", "step1_discount_pct": "-0"},
                  {"tz": "a" * 300, "step1_at": hhmm(30), "step1_discount_pct": "55"}):
        r = client.post("/shop/offers", data=offer_form(shopkeeper, **steps))
        assert r.status_code in (303, 422), r.text
        assert r.mimetype == "text/html"


def test_web_hosts_sharing_DEALSVC_SECRET_KEY_accept_each_others_sign_ins(container, settings, tmp_path):
    """Two web hosts (each with its own var/ folder) with the same DEALSVC_SECRET_KEY: a sign-in
    on one is a sign-in on the other; with keys of their own (per-host files), it is not."""
    from dealsvc.app import create_app

    shared = "k" * 48

    def host(name: str, key: str | None):
        var = tmp_path / name
        var.mkdir()
        return create_app(container=container, settings=settings.with_(var_dir=var, secret_key=key)).test_client()

    first, second = host("a", shared), host("b", shared)
    token = csrf(first.get("/admin/").text)
    assert first.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token}).status_code == 303
    cookie = first.get_cookie("dealsvc_session")
    second.set_cookie("dealsvc_session", cookie.value)
    assert "Sign out" in second.get("/admin/").text

    alone = host("c", None)  # a key of its own, made in its var/
    alone.set_cookie("dealsvc_session", cookie.value)
    assert "Sign out" not in alone.get("/admin/").text


def test_a_short_DEALSVC_SECRET_KEY_is_refused_at_start():
    from config import Settings, SettingsError

    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env({"DEALSVC_SECRET_KEY": "too-short"})
    assert Settings.from_env({"DEALSVC_SECRET_KEY": "x" * 32}).secret_key == "x" * 32


def test_a_request_that_changes_nothing_in_the_session_cannot_undo_one_that_did(client, shopkeeper):
    """The shop page asks for the offer's reach while the shopkeeper types; one such request,
    sent before "Post" with the cookie of then, may answer after the post. If it sent the cookie
    back, the browser would keep that older one, and the post's confirmation (a flashed message
    kept in the cookie) would be lost: it sends none."""
    shop_id = shopkeeper["shop"]["id"]
    reach = client.get(f"/shop/reach?shop_id={shop_id}&category=bakery&quantity=6")
    assert reach.status_code == 200 and reach.json["residents_text"]
    assert "Set-Cookie" not in reach.headers, reach.headers.get("Set-Cookie")
    posted = client.post("/shop/offers", data=offer_form(shopkeeper))
    assert posted.status_code == 303 and "dealsvc_session=" in posted.headers["Set-Cookie"]
    assert "Posted “Pane di ieri” at 50 % off" in client.get(posted.headers["Location"]).text
