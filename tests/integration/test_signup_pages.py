"""Signing up on /shop/: the key shown once, signed in when active, pending when the operator
approves sign-ups, the shop placed by coordinates or a geocoded address, errors by field in each
language, CSRF, and the rate limit shared with POST /api/v1/merchants."""
from __future__ import annotations

import dataclasses
import re
from html import unescape

import pytest

from dealsvc.app import create_app
from tests.support.api import ADMIN_TOKEN
from tests.support.geocoding import VIA_TORINO_LATLON, geo_container, geo_settings  # noqa: F401, F811 (fixtures among them)
from tests.support.pages import csrf, field_error
from tests.support.rate_limits import limited, redis_keys  # noqa: F401, F811 (fixtures among them)

KEY = re.compile(r"dsm_[A-Za-z0-9_-]{20,}")


def form(client, **changes) -> dict:
    page = client.get("/shop/signup/")
    assert page.status_code == 200
    data = {
        "csrf_token": csrf(page.text), "name": "Forno Rossi", "email": "forno@shop.example",
        "shop_name": "", "category": "bakery", "address": "", "lat": "45.4642", "lon": "9.19",
    }
    data.update(changes)
    return data


def sign_up(client, headers=None, **changes):
    return client.post("/shop/signup/", data=form(client, **changes), headers=headers or {})


def merchants(client) -> list[dict]:
    r = client.get("/api/v1/admin/merchants", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 200
    return r.json["items"]


def test_the_sign_in_page_leads_to_the_sign_up(client):
    page = client.get("/shop/")
    assert 'href="/shop/signup/"' in page.text and "Sign up your shop" in page.text


def test_an_active_sign_up_shows_the_key_once_and_is_signed_in_with_its_shop(client, api):
    r = sign_up(client, shop_name="Forno Rossi, via Dante", address="Via Dante 7, Milano")

    assert r.status_code == 201
    assert "no-store" in r.headers["Cache-Control"]
    [key] = set(KEY.findall(r.text))
    assert "This is the only time it is shown." in r.text and "password manager" in r.text
    assert "Your account is active and you are signed in." in r.text
    # The key is the merchant's API key, and the shop stands where the form put it.
    me = client.get("/api/v1/merchants/me", headers=api.h(key)).json
    assert (me["name"], me["email"], me["status"]) == ("Forno Rossi", "forno@shop.example", "active")
    [shop] = client.get("/api/v1/shops", headers=api.h(key)).json["items"]
    assert (shop["name"], shop["address"], shop["lat"], shop["lon"]) == ("Forno Rossi, via Dante", "Via Dante 7, Milano", 45.4642, 9.19)
    # Signed in: the shop's page is the dashboard of that shop, and never shows the key again.
    dashboard = client.get("/shop/")
    assert dashboard.status_code == 200
    assert "Post an offer at Forno Rossi, via Dante" in unescape(dashboard.text)
    assert key not in dashboard.text and not KEY.search(dashboard.text)


def test_the_shop_takes_the_merchants_name_when_it_has_none_of_its_own(client, api):
    key = KEY.search(sign_up(client).text).group(0)
    [shop] = client.get("/api/v1/shops", headers=api.h(key)).json["items"]
    assert shop["name"] == "Forno Rossi"


def test_with_approval_required_the_sign_up_is_pending_and_not_signed_in(client, api):
    api.rules(merchant_approval_required=True)

    r = sign_up(client)

    assert r.status_code == 201
    assert "Your account is awaiting approval" in r.text
    key = KEY.search(r.text).group(0)
    assert client.get("/api/v1/merchants/me", headers=api.h(key)).json["status"] == "pending"
    # Not signed in: the shop's page asks for the key, which then opens the pending dashboard.
    assert "Sign in with your shop's API key" in unescape(client.get("/shop/").text)
    signin = client.post("/shop/signin", data={"secret": key, "csrf_token": csrf(client.get("/shop/").text)})
    assert signin.status_code == 303
    assert "Your account is awaiting approval: you cannot post offers" in client.get("/shop/").text


@pytest.mark.parametrize("lang, required, email, nowhere, duplicate", [
    ("en", "Required.", "Enter an e-mail address such as name@example.com.",
     "Give an address, or latitude and longitude.", "is already registered."),
    ("it", "Obbligatorio.", "Inserisci un indirizzo e-mail come nome@esempio.it.",
     "Indica un indirizzo, oppure latitudine e longitudine.", "è già registrata."),
    ("fr", "Obligatoire.", "Saisissez une adresse e-mail comme nom@exemple.fr.",
     "Indiquez une adresse, ou la latitude et la longitude.", "est déjà inscrite."),
])
def test_bad_input_is_told_by_field_in_the_pages_language_and_makes_no_account(client, lang, required, email, nowhere, duplicate):
    headers = {"Accept-Language": lang}

    r = sign_up(client, headers, name="  ", email="not-an-address")

    assert r.status_code == 422
    assert unescape(field_error(r.text, "name")) == required
    assert unescape(field_error(r.text, "email")) == email
    # What was typed stays in the form.
    assert 'value="not-an-address"' in r.text
    r = sign_up(client, headers, lat="", lon="")  # neither an address nor a pin
    assert r.status_code == 422
    assert unescape(field_error(r.text, "address")) == nowhere
    assert merchants(client) == [] and not KEY.search(r.text)

    assert sign_up(client, headers).status_code == 201
    again = sign_up(client, headers, email="FORNO@shop.example")
    assert again.status_code == 409
    assert unescape(field_error(again.text, "email")) == duplicate
    assert len(merchants(client)) == 1


def test_coordinates_out_of_range_or_half_given_are_refused(client):
    r = sign_up(client, lat="95", lon="9.19")
    assert r.status_code == 422 and field_error(r.text, "lat")
    r = sign_up(client, lat="45.46", lon="")
    assert r.status_code == 422 and field_error(r.text, "lat") == "Give both latitude and longitude, or neither."
    assert merchants(client) == []


def test_a_sign_up_without_the_csrf_token_is_refused(client):
    data = form(client)
    del data["csrf_token"]
    r = client.post("/shop/signup/", data=data)
    assert r.status_code == 400
    assert merchants(client) == []


def test_an_address_without_a_pin_is_placed_by_the_geocoder(geo_container, nominatim):
    client = create_app(container=geo_container).test_client()
    r = sign_up(client, address="Via Torino 12, Milano", lat="", lon="")
    assert r.status_code == 201, r.text
    key = KEY.search(r.text).group(0)
    [shop] = client.get("/api/v1/shops", headers={"Authorization": f"Bearer {key}"}).json["items"]
    assert (shop["lat"], shop["lon"]) == VIA_TORINO_LATLON
    assert len(nominatim.searches()) == 1


def test_an_address_the_geocoder_cannot_find_is_told_and_makes_no_account(geo_container, nominatim):
    client = create_app(container=geo_container).test_client()
    r = sign_up(client, address="Via Inesistente 999, Nowhere", lat="", lon="")
    assert r.status_code == 422
    assert unescape(field_error(r.text, "address")) == "The address could not be found. Check it, or put the pin on the map."
    assert merchants(client) == [] and not KEY.search(r.text)
    # A pin places the shop whatever the geocoder says.
    assert sign_up(client, address="Via Inesistente 999, Nowhere").status_code == 201


def test_sign_ups_from_the_page_share_the_apis_rate_limit(limited):
    client = limited(merchants="2/minute")
    here = {"REMOTE_ADDR": "192.0.2.20"}

    def page_sign_up(n: int, where: dict = here):
        page = client.get("/shop/signup/", environ_base=where)
        data = {"csrf_token": csrf(page.text), "name": "Forno", "email": f"f{n}@shop.example", "category": "bakery",
                "lat": "45.4642", "lon": "9.19"}
        return client.post("/shop/signup/", data=data, environ_base=where)

    assert page_sign_up(1).status_code == 201
    assert client.post("/api/v1/merchants", json={"name": "Forno", "email": "api@shop.example"}, environ_base=here).status_code == 201
    refused = page_sign_up(2)
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert "Too many sign-ups from this address." in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # The API is over the same allowance; another address is not.
    assert client.post("/api/v1/merchants", json={"name": "F", "email": "x@shop.example"}, environ_base=here).status_code == 429
    assert page_sign_up(3, {"REMOTE_ADDR": "192.0.2.21"}).status_code == 201


def test_a_sign_up_ends_the_shop_session_open_in_this_browser(client, api):
    old = api.merchant(name="Vecchio Forno")
    api.shop(old["api_key"], name="Vecchio Forno")
    assert client.post("/shop/signin", data={"secret": old["api_key"], "csrf_token": csrf(client.get("/shop/").text)}).status_code == 303

    api.rules(merchant_approval_required=True)
    assert sign_up(client).status_code == 201

    # Pending: nobody is signed in now, not the account that was.
    assert "Sign in with your shop's API key" in unescape(client.get("/shop/").text)


def test_with_map_tiles_set_the_map_pages_let_their_images_in(container):
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    client = create_app(container=dataclasses.replace(container, settings=container.settings.with_(map_tiles=tiles))).test_client()
    for path in ("/shop/signup/", "/shop/", "/admin/"):
        r = client.get(path)
        assert "img-src 'self' data: https://tiles.example.org;" in r.headers["Content-Security-Policy"], path
    assert '"tiles": "https://tiles.example.org/{z}/{x}/{y}.png"' in unescape(client.get("/shop/signup/").text)
    # Nothing else is widened, and pages without a map keep the plain policy.
    assert "tiles.example.org" not in client.get("/emulator/").headers["Content-Security-Policy"]


def test_without_map_tiles_the_maps_have_no_tile_server(client):
    r = client.get("/shop/signup/")
    assert "img-src 'self' data:;" in r.headers["Content-Security-Policy"]
    assert '"tiles": null' in unescape(r.text)
