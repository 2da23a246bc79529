"""The pages in Italian, French and English: by Accept-Language, by the switch (remembered in the
session), with <html lang> right, and amounts typed the local way on the Italian shop page."""
from __future__ import annotations

import re
from html import unescape
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.pages import csrf, sign_in_shop


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, "the page has no <html lang>"
    return match.group(1)


@pytest.mark.parametrize("header, lang, skip", [
    ("it-IT,it;q=0.9,en;q=0.5", "it", "Vai al contenuto"),
    ("fr-CH, fr;q=0.9", "fr", "Aller au contenu"),
    ("en-GB", "en", "Skip to content"),
    ("de-DE", "en", "Skip to content"),  # none of ours: the default
])
@pytest.mark.parametrize("path", ["/shop/", "/admin/", "/emulator/"])
def test_pages_follow_accept_language(client, path, header, lang, skip):
    r = client.get(path, headers={"Accept-Language": header})
    assert r.status_code == 200
    print(path, header, "->", html_lang(r.text))
    assert html_lang(r.text) == lang
    assert skip in r.text


def test_the_switch_is_remembered_and_returns_to_the_page(client):
    page = client.get("/admin/", headers={"Accept-Language": "en"})
    r = client.post("/language", data={"csrf_token": csrf(page.text), "locale": "fr", "next": "/admin/"},
                    headers={"Accept-Language": "en"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/")
    for path in ("/admin/", "/shop/", "/emulator/"):
        again = client.get(path, headers={"Accept-Language": "it"})  # the choice beats the browser
        assert html_lang(again.text) == "fr", path
        assert "Aller au contenu" in again.text


def test_the_switch_needs_the_csrf_token_and_is_no_open_redirect(client):
    page = client.get("/shop/")
    refused = client.post("/language", data={"locale": "it", "next": "/shop/"})
    assert refused.status_code == 400
    assert html_lang(client.get("/shop/").text) == "en"
    # Neither another site (a tab is dropped by browsers: "/\t/x" would become "//x") nor a 500.
    for elsewhere in ("//evil.example/", "/\t/evil.example/", "/\\evil.example/", "/a\r\nSet-Cookie: x=1"):
        r = client.post("/language", data={"csrf_token": csrf(page.text), "locale": "it", "next": elsewhere})
        assert r.status_code == 303 and r.headers["Location"] in ("/", "http://localhost/"), elsewhere
    unknown = client.post("/language", data={"csrf_token": csrf(page.text), "locale": "xx", "next": "/shop/"})
    assert unknown.status_code == 303
    assert html_lang(client.get("/shop/").text) == "it"  # the last good choice stays


def test_the_brand_names_the_service_on_the_pages(container):
    from dealsvc.app import create_app

    container.settings = container.settings.with_(brand="SottoCasa Milano")
    app = create_app(container=container)
    html = app.test_client().get("/shop/").text
    assert "<title>" in html and "· SottoCasa Milano</title>" in html
    assert '<span class="brand">SottoCasa Milano</span>' in html


IT = {"Accept-Language": "it-IT,it;q=0.9"}


def test_the_shop_page_in_italian_reads_amounts_typed_the_italian_way(client, api):
    from tests.support.pages import offer_form

    m = api.merchant()
    shop = api.shop(m["api_key"], name="Forno Rossi")
    token = csrf(client.get("/shop/", headers=IT).text)
    signin = client.get("/shop/", headers=IT).text
    assert "Accedi con la chiave API del tuo negozio" in signin and html_lang(signin) == "it"
    assert client.post("/shop/signin", data={"secret": m["api_key"], "csrf_token": token}, headers=IT).status_code == 303
    page = client.get("/shop/", headers=IT).text
    assert "Pubblica un’offerta da Forno Rossi" in page and "Prezzo normale (€)" in page
    assert 'data-text-instead="{pay} invece di {was}"' in page  # the script's words, translated by the page
    shopkeeper = {"shop": shop, "csrf": csrf(page)}
    r = client.post("/shop/offers", data=offer_form(shopkeeper, original_price="4,50", discount_pct="50"), headers=IT)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["Location"], headers=IT).text
    assert "Pubblicato “Pane di ieri” con il 50 % di sconto" in page
    offer_id = re.search(r'id="offer-(off_[^"]+)"', page).group(1)
    offer = client.get(f"/api/v1/offers/{offer_id}").json
    print("typed 4,50 ->", offer["original_price_cents"], "cents; shown:", re.findall(r"\d+,\d\d\xa0€", page)[:2])
    assert offer["original_price_cents"] == 450 and offer["price_cents"] == 225
    assert "2,25\xa0€" in page and "4,50\xa0€" in page  # Babel writes the money the Italian way
    # A mistake is told in Italian, next to its field.
    bad = client.post("/shop/offers", data=offer_form(shopkeeper, original_price="quattro"), headers=IT)
    assert bad.status_code == 422 and "Inserisci un importo, ad esempio 4,50." in bad.text
    huge = client.post("/shop/offers", data=offer_form(shopkeeper, original_price="1e999999999"), headers=IT)
    assert huge.status_code == 422  # not a 500 (the amount is checked before it is multiplied)
    # The same page in English still reads 4,50 as the old form did, and writes €.
    en = client.post("/shop/offers", data=offer_form(shopkeeper, original_price="4,50"), headers={"Accept-Language": "en"})
    assert en.status_code == 303
    assert "€2.25" in client.get("/shop/", headers={"Accept-Language": "en"}).text


def test_the_console_and_the_inbox_in_italian(client):
    from tests.support.api import ADMIN_TOKEN

    token = csrf(client.get("/admin/", headers=IT).text)
    assert "Accedi con il token del gestore." in client.get("/admin/", headers=IT).text
    assert client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token}, headers=IT).status_code == 303
    console = client.get("/admin/", headers=IT).text
    assert html_lang(console) == "it"
    for words in ("Console del gestore", "Salva regole", "Copertura di un punto", "Offerte attive"):
        assert words in console, words
    wrong = client.post("/admin/rules", data={"csrf_token": csrf(console), "min_discount_pct": "tanto"}, headers=IT)
    assert wrong.status_code == 422 and "Inserisci una percentuale." in wrong.text
    inbox = client.get("/emulator/", headers=IT).text
    assert "Mostra i token che contengono" in inbox and 'data-text-none="Nessun telefono ha ancora ricevuto notifiche."' in inbox
    # A page error in Italian too.
    forged = client.post("/shop/signin", data={"secret": "x"}, headers=IT)
    assert forged.status_code == 400 and "Il modulo è scaduto o non proviene da questo sito." in forged.text
    assert "<title>Richiesta non valida · dealsvc</title>" in forged.text


def test_the_settings_of_language_and_name():
    from config import Settings, SettingsError

    s = Settings.from_env({"DEALSVC_DEFAULT_LOCALE": "IT", "DEALSVC_BRAND": "  SottoCasa   Milano "})
    assert (s.default_locale, s.brand) == ("it", "SottoCasa Milano")
    assert (Settings.from_env({}).default_locale, Settings.from_env({}).brand) == ("en", "dealsvc")
    for env in ({"DEALSVC_DEFAULT_LOCALE": "de"}, {"DEALSVC_BRAND": "x" * 61}):
        with pytest.raises(SettingsError):
            Settings.from_env(env)


def test_the_default_locale_setting_decides_when_the_browser_names_none_of_ours(container):
    from dealsvc.app import create_app

    container.settings = container.settings.with_(default_locale="fr")
    client = create_app(container=container).test_client()
    assert html_lang(client.get("/shop/", headers={"Accept-Language": "de"}).text) == "fr"
    assert html_lang(client.get("/shop/").text) == "fr"
    assert html_lang(client.get("/shop/", headers={"Accept-Language": "it"}).text) == "it"


ROME = ZoneInfo("Europe/Rome")


def _offer(client, page: str) -> dict:
    offer_id = re.search(r'id="offer-(off_[^"]+)"', page).group(1)
    return client.get(f"/api/v1/offers/{offer_id}").json


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_offer_forms_times_are_read_on_the_shops_clock(client, api):
    """A Milan shop: "until 21:30" and "from 20:00" are 21:30 and 20:00 in Milan, whatever zone the
    browser is in (a form still sending the old `tz` field does not move them)."""
    from tests.support.pages import offer_form

    m = api.merchant()
    shop = api.shop(m["api_key"], name="Forno Rossi")  # by the Duomo
    assert sign_in_shop(client, m["api_key"]).status_code == 303
    page = client.get("/shop/").text
    shown = unescape(page)
    assert '<p class="hint field-hint" id="expires_at-hint">On the shop\'s clock (Europe/Rome).</p>' in shown
    assert "each from a time on the shop's clock (Europe/Rome)" in shown
    # The first "Until" is filled in on the shop's clock: two hours ahead, up to the quarter hour.
    shown = datetime.fromisoformat(re.search(r'id="expires_at" name="expires_at" type="datetime-local" required value="([^"]+)"', page)
                                   .group(1)).replace(tzinfo=ROME)
    now = datetime.now(ROME)
    assert now + timedelta(hours=2) - timedelta(minutes=1) <= shown <= now + timedelta(hours=2, minutes=15), (now, shown)

    day = (datetime.now(ROME) + timedelta(days=1)).date()
    form = offer_form({"shop": shop, "csrf": csrf(page)}, expires_at=f"{day.isoformat()}T21:30", tz="America/New_York",
                      step1_at="20:00", step1_discount_pct="55")
    r = client.post("/shop/offers", data=form)
    assert r.status_code == 303, r.text
    offer = _offer(client, client.get(r.headers["Location"]).text)
    print("until 21:30 ->", offer["expires_at"], "; from 20:00 ->", offer["price_steps"][0]["at"])
    assert _at(offer["expires_at"]) == datetime(day.year, day.month, day.day, 21, 30, tzinfo=ROME)
    step = _at(offer["price_steps"][0]["at"]).astimezone(ROME)
    assert step.strftime("%H:%M") == "20:00" and now < step < _at(offer["expires_at"])


@pytest.mark.parametrize("headers, typed, wanted", [
    (IT, {"pct": "45,5", "step": "55,5", "lat": "45,4642", "lon": "9,19", "rule": "12,5", "radius": "1.500"},
     (45.5, 55.5, 45.4642, 9.19, 12.5, 1500)),
    # French groups thousands with a narrow no-break space; people type a plain one.
    ({"Accept-Language": "fr-FR"}, {"pct": "45,5", "step": "55,5", "lat": "45,4642", "lon": "9,19", "rule": "12,5", "radius": "1 500"},
     (45.5, 55.5, 45.4642, 9.19, 12.5, 1500)),
    ({"Accept-Language": "en"}, {"pct": "45.5", "step": "55.5", "lat": "45.4642", "lon": "9.19", "rule": "12.5", "radius": "1,500"},
     (45.5, 55.5, 45.4642, 9.19, 12.5, 1500)),
    # A dot in Italian (coordinates pasted from a map) is still the decimal point.
    (IT, {"pct": "45.5", "step": "55", "lat": "45.4642", "lon": "9.19", "rule": "12", "radius": "1.500"},
     (45.5, 55, 45.4642, 9.19, 12, 1500)),
])
def test_numbers_are_read_as_the_pages_language_writes_them(client, api, headers, typed, wanted):
    from tests.support.api import ADMIN_TOKEN
    from tests.support.pages import offer_form

    m = api.merchant()
    shop = api.shop(m["api_key"], name="Forno Rossi")
    assert sign_in_shop(client, m["api_key"]).status_code == 303
    token = csrf(client.get("/shop/", headers=headers).text)
    # A percentage and a step's percentage on the offer form.
    step_at = (datetime.now(ROME) + timedelta(minutes=30)).strftime("%H:%M")
    r = client.post("/shop/offers", headers=headers, data=offer_form(
        {"shop": shop, "csrf": token}, discount_pct=typed["pct"], step1_at=step_at, step1_discount_pct=typed["step"]))
    assert r.status_code == 303, r.text
    offer = _offer(client, client.get(r.headers["Location"], headers=headers).text)
    assert (offer["discount_pct"], offer["price_steps"][0]["discount_pct"]) == wanted[:2]
    # Latitude and longitude on the shop form.
    r = client.post("/shop/shops", headers=headers, data={"csrf_token": token, "name": "Latteria", "category": "dairy",
                                                          "lat": typed["lat"], "lon": typed["lon"]})
    assert r.status_code == 303, r.text
    added = next(s for s in api.c.get("/api/v1/shops", headers=api.h(m["api_key"])).json["items"] if s["name"] == "Latteria")
    assert (added["lat"], added["lon"]) == wanted[2:4]
    # A rule on the operator's console.
    token = csrf(client.get("/admin/", headers=headers).text)
    assert client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token}, headers=headers).status_code == 303
    console = client.get("/admin/", headers=headers).text
    from tests.support.pages import console_rules

    r = client.post("/admin/rules", headers=headers, data={**console_rules(console), "csrf_token": csrf(console),
                                                           "min_discount_pct": typed["rule"], "default_radius_m": typed["radius"]})
    assert r.status_code == 303, r.text
    rules = client.get("/api/v1/admin/rules", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json
    assert (rules["min_discount_pct"], rules["default_radius_m"]) == wanted[4:]
    # ... and the console shows it back as it was typed: a second save changes nothing.
    console = client.get("/admin/", headers=headers).text
    assert f'id="min_discount_pct" name="min_discount_pct" inputmode="decimal" value="{typed["rule"]}"' in console


@pytest.mark.parametrize("headers, messages", [
    (IT, {"pct": "Inserisci una percentuale, ad esempio 50.", "lat": "Inserisci una latitudine, ad esempio 45,4642.",
          "rule": "Inserisci una percentuale.", "whole": "Inserisci metri interi."}),
    ({"Accept-Language": "en"}, {"pct": "Enter a percentage such as 50.", "lat": "Enter a latitude such as 45.4642.",
                                 "rule": "Enter a percentage.", "whole": "Enter whole metres."}),
])
def test_numbers_that_are_none_are_told_in_the_pages_language(client, api, headers, messages):
    from tests.support.api import ADMIN_TOKEN
    from tests.support.pages import console_rules, field_error, offer_form

    m = api.merchant()
    shop = api.shop(m["api_key"], name="Forno Rossi")
    assert sign_in_shop(client, m["api_key"]).status_code == 303
    token = csrf(client.get("/shop/", headers=headers).text)
    for bad in ("1e1", "NaN", "4,5,5", "12,5%", "inf"):
        r = client.post("/shop/offers", headers=headers, data=offer_form({"shop": shop, "csrf": token}, discount_pct=bad))
        assert r.status_code == 422 and field_error(r.text, "discount_pct") == messages["pct"], bad
    r = client.post("/shop/shops", headers=headers, data={"csrf_token": token, "name": "Latteria", "category": "dairy",
                                                          "lat": "45,46,42", "lon": "9"})
    assert r.status_code == 422 and field_error(r.text, "shop-lat") == messages["lat"]
    token = csrf(client.get("/admin/", headers=headers).text)
    assert client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token}, headers=headers).status_code == 303
    console = client.get("/admin/", headers=headers).text
    r = client.post("/admin/rules", headers=headers, data={**console_rules(console), "csrf_token": csrf(console),
                                                           "min_discount_pct": "dodici", "default_radius_m": "12,5"})
    assert r.status_code == 422
    assert field_error(r.text, "min_discount_pct") == messages["rule"]
    assert field_error(r.text, "default_radius_m") == messages["whole"]


def test_a_text_too_long_or_with_hidden_characters_is_told_in_italian(client, api):
    """The form's own checks of texts (length, the text rule) speak the page's language too."""
    from tests.support.pages import field_error, offer_form

    m = api.merchant()
    shop = api.shop(m["api_key"], name="Forno Rossi")
    assert sign_in_shop(client, m["api_key"]).status_code == 303
    token = csrf(client.get("/shop/", headers=IT).text)
    for title, said in (("x" * 500, "Al massimo 120 caratteri."),
                        ("Pane \u202egnp.exe", "Non deve contenere caratteri di formattazione bidirezionali o invisibili (come U+202E)."),
                        ("\u2800\u3164", "Deve contenere caratteri visibili.")):
        r = client.post("/shop/offers", headers=IT, data=offer_form({"shop": shop, "csrf": token}, title=title))
        assert r.status_code == 422 and field_error(r.text, "title") == said, title
    r = client.post("/shop/shops", headers=IT, data={"csrf_token": token, "name": "Latteria\x07", "category": "dairy",
                                                     "lat": "45,47", "lon": "9,19"})
    assert r.status_code == 422 and field_error(r.text, "shop-name") == "Non deve contenere caratteri di controllo."
