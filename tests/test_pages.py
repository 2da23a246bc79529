"""The pages through Flask's test client: sign-in, CSRF, cookie flags, errors by field, no 500s."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import ADMIN_TOKEN


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def field_error(html: str, field_id: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">([^<]*)</p>', html)
    return match.group(1) if match else None


def sign_in_shop(client, key: str):
    token = csrf(client.get("/shop/").text)
    return client.post("/shop/signin", data={"secret": key, "csrf_token": token})


@pytest.fixture
def shopkeeper(client, api):
    m = api.merchant()
    shop = api.shop(m["api_key"], name="Forno Rossi")
    assert sign_in_shop(client, m["api_key"]).status_code == 303
    page = client.get("/shop/")
    return {"key": m["api_key"], "shop": shop, "csrf": csrf(page.text)}


def offer_form(shopkeeper, **changes) -> dict:
    until = (datetime.now(timezone.utc) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "csrf_token": shopkeeper["csrf"], "shop_id": shopkeeper["shop"]["id"], "title": "Pane di ieri",
        "category": "bakery", "original_price": "4.00", "discount_pct": "50", "quantity": "6",
        "expires_at": until, "tz": "UTC",
    }
    form.update(changes)
    return form


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
        "must lie within 40–60 % (operator rules min_discount_pct, max_discount_pct)."
    )
    # What was typed stays in the form.
    assert 'value="Pane di ieri"' in r.text


def test_an_expiry_beyond_the_horizon_is_shown_next_to_until(client, shopkeeper):
    far = (datetime.now(timezone.utc) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
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
        ({"title": "x" * 500}, "title", "Length must be between 1 and 120."),
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


def test_the_operator_changes_the_band_and_the_shop_page_follows(client, api, shopkeeper):
    operator = client.application.test_client()
    token = csrf(operator.get("/admin/").text)
    assert operator.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token}).status_code == 303
    console = operator.get("/admin/").text
    rules = {name: re.search(rf'id="{name}" name="{name}" inputmode="decimal" value="([^"]*)"', console).group(1)
             for name in ("min_discount_pct", "max_discount_pct", "default_radius_m", "max_radius_m",
                          "max_offer_horizon_h", "min_offer_lifetime_s", "max_notifications_per_day")}
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
            "csrf_token": csrf(console)}
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
