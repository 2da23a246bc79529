"""The pages in Italian, French and English in Debian's Chromium: the browser's language picks the
page's, the switch to French is remembered, the offer form reads "4,50" and writes "2,25 €" and
takes its times on the shop's clock whatever the browser's; screenshots for the README."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.support.api import ADMIN_TOKEN
from tests.support.browser import (
    docs_shot,
    DESKTOP,
    PHONE,
    WAIT_MS,
    browser,
    live,
    merchant_with_shop,
    phones,
    settings,
)

def _context(browser, live, locale: str, viewport: dict):
    ctx = browser.new_context(viewport=viewport, timezone_id="Europe/Rome", locale=locale)
    return ctx


def test_the_shop_page_and_the_inbox_in_italian(browser, live):
    key, shop = merchant_with_shop(live)
    phones(live)
    ctx = _context(browser, live, "it-IT", PHONE)
    page = ctx.new_page()
    page.goto(live.url + "/shop/")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    page.get_by_label("Chiave API").fill(key)
    page.get_by_role("button", name="Accedi").click()

    expect(page.locator("#reach-out")).to_have_text("meno di 20")
    page.get_by_label("Cosa").fill("Pane di ieri")
    page.get_by_label("Prezzo normale (€)").fill("4,50")
    page.locator("#discount_pct").fill("50")
    page.get_by_label("Quanti pezzi").fill("6")
    # The script writes the money the Italian way, with the page's words.
    expect(page.locator("#price-out")).to_have_text("2,25\u00a0€ invece di 4,50\u00a0€")
    docs_shot(page, "shop-it-phone.png")
    page.get_by_role("button", name="Pubblica offerta").click()
    expect(page.locator(".flash")).to_contain_text("Pubblicato “Pane di ieri” con il 50 % di sconto")
    expect(page.locator(".offer-line").first).to_contain_text("2,25\u00a0€")

    inbox = ctx.new_page()
    inbox.goto(live.url + "/emulator/")
    expect(inbox.locator("html")).to_have_attribute("lang", "it")
    expect(inbox.locator("#inbox-status")).to_have_text("1 telefono con notifiche.", timeout=WAIT_MS)
    expect(inbox.locator('section.phone[data-token="phone-near"]')).to_have_attribute("aria-label", "Telefono phone-near")
    ctx.close()


def test_the_console_in_italian_and_the_switch_to_french_is_remembered(browser, live):
    ctx = _context(browser, live, "it-IT", DESKTOP)
    admin = ctx.new_page()
    admin.goto(live.url + "/admin/")
    admin.get_by_label("Token del gestore").fill(ADMIN_TOKEN)
    admin.get_by_role("button", name="Accedi").click()
    expect(admin.get_by_role("heading", name="Regole")).to_be_visible()
    expect(admin.get_by_role("button", name="Salva regole")).to_be_visible()
    docs_shot(admin, "admin-it-desktop.png")

    admin.get_by_role("button", name="Français").click()
    expect(admin.locator("html")).to_have_attribute("lang", "fr")
    expect(admin.get_by_role("button", name="Enregistrer les règles")).to_be_visible()
    admin.goto(live.url + "/shop/")  # the browser still asks for Italian: the choice wins
    expect(admin.locator("html")).to_have_attribute("lang", "fr")
    expect(admin.get_by_role("button", name="Se connecter")).to_be_visible()
    ctx.close()


# What each page must say in each language, written out here (not read from the catalogues).
WORDS = {
    "it": {"locale": "it-IT", "sign_in": "Accedi", "api_key": "Chiave API", "token": "Token del gestore",
           "post_h": "Pubblica un’offerta da Forno Rossi", "post": "Pubblica offerta", "what": "Cosa", "until": "Fino a",
           "clock": "Sull’orologio del negozio (Europe/Rome).", "rules": "Regole", "save": "Salva regole",
           "phones": "Telefoni", "status": "1 telefono con notifiche.", "phone": "Telefono phone-near"},
    "fr": {"locale": "fr-FR", "sign_in": "Se connecter", "api_key": "Clé API", "token": "Jeton de l’opérateur",
           "post_h": "Publier une offre chez Forno Rossi", "post": "Publier l’offre", "what": "Quoi", "until": "Jusqu’à",
           "clock": "À l’heure du magasin (Europe/Rome).", "rules": "Règles", "save": "Enregistrer les règles",
           "phones": "Téléphones", "status": "1 téléphone avec des notifications.", "phone": "Téléphone phone-near"},
    "en": {"locale": "en-GB", "sign_in": "Sign in", "api_key": "API key", "token": "Operator token",
           "post_h": "Post an offer at Forno Rossi", "post": "Post offer", "what": "What", "until": "Until",
           "clock": "On the shop's clock (Europe/Rome).", "rules": "Rules", "save": "Save rules",
           "phones": "Phones", "status": "1 phone with notifications.", "phone": "Phone phone-near"},
}


@pytest.mark.parametrize("lang", ["it", "fr", "en"])
def test_shop_console_and_inbox_render_in_the_browsers_language(browser, live, lang):
    words = WORDS[lang]
    key, shop = merchant_with_shop(live)
    phones(live)
    expires = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    live.post("/api/v1/offers", {"shop_id": shop["id"], "title": "Yoghurt", "category": "bakery",
                                 "original_price_cents": 300, "discount_pct": 50, "quantity": 4, "expires_at": expires}, key)
    ctx = browser.new_context(viewport=DESKTOP, timezone_id="Europe/Rome", locale=words["locale"])
    try:
        page = ctx.new_page()
        page.goto(live.url + "/shop/")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        page.get_by_label(words["api_key"]).fill(key)
        page.get_by_role("button", name=words["sign_in"]).click()
        expect(page.get_by_role("heading", name=words["post_h"])).to_be_visible()
        expect(page.get_by_label(words["what"], exact=True)).to_be_visible()
        expect(page.get_by_label(words["until"], exact=True)).to_have_accessible_description(words["clock"])
        expect(page.get_by_role("button", name=words["post"])).to_be_visible()

        page.goto(live.url + "/admin/")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        page.get_by_label(words["token"]).fill(ADMIN_TOKEN)
        page.get_by_role("button", name=words["sign_in"]).click()
        expect(page.get_by_role("heading", name=words["rules"], exact=True)).to_be_visible()
        expect(page.get_by_role("button", name=words["save"])).to_be_visible()

        page.goto(live.url + "/emulator/")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.get_by_role("heading", name=words["phones"], exact=True)).to_be_visible()
        expect(page.locator("#inbox-status")).to_have_text(words["status"], timeout=WAIT_MS)
        expect(page.get_by_role("region", name=words["phone"])).to_be_visible()
    finally:
        ctx.close()


def test_an_offer_posted_from_new_york_ends_on_the_milan_shops_clock(browser, live):
    """The shopkeeper's laptop is on New York time; the shop is in Milan and the page says its
    times are on the shop's clock: "until 21:30" is 21:30 in Milan."""
    key, shop = merchant_with_shop(live)
    rome, new_york = ZoneInfo("Europe/Rome"), ZoneInfo("America/New_York")
    ctx = browser.new_context(viewport=PHONE, timezone_id="America/New_York", locale="en-US")
    try:
        page = ctx.new_page()
        page.goto(live.url + "/shop/")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/New_York"
        until = page.get_by_label("Until", exact=True)
        expect(until).to_have_accessible_description("On the shop's clock (Europe/Rome).")
        # The first "Until" is two hours ahead on the shop's clock (up to the quarter hour), not New York's.
        before = datetime.now(rome)
        shown = datetime.fromisoformat(until.input_value()).replace(tzinfo=rome)
        assert before + timedelta(hours=2) - timedelta(minutes=1) <= shown <= datetime.now(rome) + timedelta(hours=2, minutes=15), shown

        day = (datetime.now(rome) + timedelta(days=1)).date()
        page.get_by_label("What").fill("Pane di ieri")
        page.get_by_label("Normal price (€)").fill("4.00")
        page.locator("#discount_pct").fill("50")
        page.get_by_label("How many").fill("6")
        until.fill(f"{day.isoformat()}T21:30")
        page.get_by_text("Lower the price later").click()
        page.locator("#step1_at").fill("20:00")
        page.locator("#step1_discount_pct").fill("55")
        page.get_by_role("button", name="Post offer").click()
        expect(page.locator(".flash")).to_contain_text("Posted “Pane di ieri” at 50 % off")

        offer_id = page.locator(".offer").first.get_attribute("id").removeprefix("offer-")
        offer = live.http.get(f"{live.url}/api/v1/offers/{offer_id}", timeout=10).json()
        expires_at = datetime.fromisoformat(offer["expires_at"].replace("Z", "+00:00"))
        assert expires_at == datetime(day.year, day.month, day.day, 21, 30, tzinfo=rome)
        assert expires_at.astimezone(new_york).hour != 21  # what the old form made of it
        step_at = datetime.fromisoformat(offer["price_steps"][0]["at"].replace("Z", "+00:00"))
        assert step_at.astimezone(rome).strftime("%H:%M") == "20:00"
        # The listing says the same, on the shop's clock.
        expect(page.locator(".offer-line").first).to_contain_text("21:30")
        expect(page.locator("#shop-clock")).to_have_text("Times are on the shop's clock (Europe/Rome).")
    finally:
        ctx.close()
