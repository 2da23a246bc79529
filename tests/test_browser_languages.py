"""The pages in Italian (and the switch to French) in Debian's Chromium: the browser's language
picks the page's, the offer form reads "4,50" and writes "2,25 €", screenshots for the README."""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import ADMIN_TOKEN
from tests.test_browser import (  # noqa: F401  (fixtures)
    CHROMIUM, DESKTOP, PHONE, WAIT_MS, browser, live, merchant_with_shop, phones, settings,
)

DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def _context(browser, live, locale: str, viewport: dict):
    ctx = browser.new_context(viewport=viewport, timezone_id="Europe/Rome", locale=locale)
    return ctx


def _shot(page, name: str) -> None:
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_SCREENSHOTS / name), full_page=True)


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
    _shot(page, "shop-it-phone.png")
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
    _shot(admin, "admin-it-desktop.png")

    admin.get_by_role("button", name="Français").click()
    expect(admin.locator("html")).to_have_attribute("lang", "fr")
    expect(admin.get_by_role("button", name="Enregistrer les règles")).to_be_visible()
    admin.goto(live.url + "/shop/")  # the browser still asks for Italian: the choice wins
    expect(admin.locator("html")).to_have_attribute("lang", "fr")
    expect(admin.get_by_role("button", name="Se connecter")).to_be_visible()
    ctx.close()
