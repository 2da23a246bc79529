"""The pages in Debian's Chromium (Playwright): post on /shop, see it on /emulator, the band, withdrawal; screenshots."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.support.api import ADMIN_TOKEN

from tests.support.browser import (
    WAIT_MS,
    browser,
    context,
    fill_offer,
    live,
    merchant_with_shop,
    phones,
    screenshot,
    settings,
    sign_in,
)


def test_an_offer_posted_on_shop_reaches_the_phone_inside_the_radius_only(context, live):
    key, shop = merchant_with_shop(live)
    phones(live)
    page = context.new_page()
    page.goto(live.url + "/shop/")
    screenshot(page, "shop-signin")
    sign_in(page, live, "/shop/", key)

    # One resident in reach: too few to show a merchant (domain/privacy.py).
    expect(page.locator("#reach-out")).to_have_text("fewer than 20")
    fill_offer(page)
    expect(page.locator("#price-out")).to_have_text("€2.00 instead of €4.00")
    page.locator("#discount_pct").fill("60")
    expect(page.locator("#price-out")).to_have_text("€1.60 instead of €4.00")
    page.locator("#discount_pct").fill("50")
    page.get_by_role("button", name="Post offer").click()
    expect(page.locator(".flash")).to_contain_text("Posted “Pane di ieri” at 50 % off")

    inbox = context.new_page()
    inbox.goto(live.url + "/emulator/")
    near = inbox.locator('section.phone[data-token="phone-near"]')
    expect(near.locator(".n-title")).to_have_text("-50% Pane di ieri at Forno Rossi", timeout=WAIT_MS)
    expect(near.locator(".n-body")).to_contain_text("€2.00 instead of €4.00, 200 m away")
    expect(inbox.locator("#inbox-status")).to_have_text("1 phone with notifications.")
    expect(inbox.locator('section.phone[data-token="phone-far"]')).to_have_count(0)
    assert live.received("phone-far") == []
    screenshot(inbox, "emulator-inbox")

    # The shop's list shows the figures once the push went out.
    page.reload()
    row = page.locator(".offer").first
    expect(row.locator("dt:text-is('Reach') + dd")).to_have_text("fewer than 20")
    expect(row.locator("dt:text-is('Pushes sent') + dd")).to_have_text("fewer than 20")
    expect(row.locator(".badge")).to_have_text("active")
    screenshot(page, "shop")


def test_a_discount_outside_the_band_shows_the_error_next_to_the_field(context, live):
    key, _ = merchant_with_shop(live)
    page = context.new_page()
    sign_in(page, live, "/shop/", key)
    fill_offer(page, discount="45")
    # The operator narrows the band while the shopkeeper is filling in the form.
    live.put_rules(min_discount_pct=50, max_discount_pct=60)
    page.get_by_role("button", name="Post offer").click()

    error = page.locator("#discount_pct-error")
    expect(error).to_have_text("⚠ must lie within 50%–60% (operator rules min_discount_pct, max_discount_pct)."
                               .removeprefix("⚠ "))
    expect(page.locator("#discount_pct")).to_have_attribute("aria-describedby", "discount_pct-error")
    expect(page.get_by_label("What")).to_have_value("Pane di ieri")
    expect(page.locator(".offer")).to_have_count(0)
    screenshot(page, "shop-error")


def test_the_operator_changes_the_band_and_the_shop_page_follows_without_a_restart(context, live):
    key, _ = merchant_with_shop(live)
    shop_page = context.new_page()
    sign_in(shop_page, live, "/shop/", key)
    slider = shop_page.locator("#discount_pct")
    expect(slider).to_have_attribute("min", "40")
    expect(slider).to_have_attribute("max", "60")

    admin = context.new_page()
    admin.goto(live.url + "/admin/")
    screenshot(admin, "admin-signin")
    sign_in(admin, live, "/admin/", ADMIN_TOKEN)
    admin.get_by_label("Smallest discount (%)").fill("30")
    admin.get_by_label("Largest discount (%)").fill("70")
    admin.get_by_role("button", name="Save rules").click()
    expect(admin.locator(".flash")).to_have_text("Rules saved; they apply from the next request.")
    expect(admin.locator("table tbody tr").first).to_contain_text("max_discount_pct")
    expect(admin.locator("table").first).to_contain_text("min_discount_pct")  # the rules history

    shop_page.reload()
    expect(slider).to_have_attribute("min", "30")
    expect(slider).to_have_attribute("max", "70")
    expect(shop_page.locator("label[for=discount_pct]")).to_contain_text("allowed now: 30–70 %")
    fill_offer(shop_page, discount="70")
    expect(shop_page.locator("#price-out")).to_have_text("€1.20 instead of €4.00")
    shop_page.get_by_role("button", name="Post offer").click()
    expect(shop_page.locator(".flash")).to_contain_text("at 70 % off")

    admin.reload()
    expect(admin.locator("#fig-active-offers")).to_have_text("1")
    screenshot(admin, "admin")


def test_a_withdrawn_offer_shows_withdrawn_on_the_phone(context, live):
    key, shop = merchant_with_shop(live)
    phones(live)
    expires = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    live.post("/api/v1/offers", {"shop_id": shop["id"], "title": "Yoghurt", "category": "bakery",
                                 "original_price_cents": 300, "discount_pct": 50, "quantity": 4, "expires_at": expires}, key)
    inbox = context.new_page()
    inbox.goto(live.url + "/emulator/")
    near = inbox.locator('section.phone[data-token="phone-near"]')
    expect(near.locator(".n-title")).to_have_text("-50% Yoghurt at Forno Rossi", timeout=WAIT_MS)
    expect(near.locator(".n-gone")).to_have_count(0)

    page = context.new_page()
    sign_in(page, live, "/shop/", key)
    page.locator(".offer").first.get_by_role("button", name="Withdraw").click()
    expect(page.locator(".flash")).to_have_text("“Yoghurt” withdrawn; the residents who were told see it gone.")
    expect(page.locator(".offer .badge").first).to_have_text("cancelled")

    # The inbox refreshes by itself: no reload here.
    expect(near.locator(".n-gone")).to_have_text("Withdrawn — no longer available", timeout=WAIT_MS)
    expect(near.locator(".notification")).to_have_count(1)
    expect(near.locator(".notification")).to_have_class(re.compile(r"\bwithdrawn\b"))
    screenshot(inbox, "emulator-withdrawn")


def test_the_form_previews_the_waves_and_takes_lower_prices_from_a_phone(context, live):
    key, _ = merchant_with_shop(live)
    live.put_rules(wave_factor=1)
    page = context.new_page()
    sign_in(page, live, "/shop/", key)
    expect(page.locator("#reach-out")).to_have_text("fewer than 20")
    for i in range(30):
        live.post("/api/v1/subscribers", {"fcm_token": f"phone-{i}", "lat": 45.4650 + i * 0.0002, "lon": 9.1900, "radius_m": 3000})
    page.reload()
    # 30 in reach, shown coarse (domain/privacy.py): about 20 or about 30.
    expect(page.locator("#reach-out")).to_have_text(re.compile(r"^about [23]0$"))
    fill_offer(page)  # 6 items: 6 residents a wave
    expect(page.locator("#waves-out")).to_have_text(re.compile(
        r"^Told in [45] waves while stock lasts \(nearest first\), about: 6 at once, 6 after 10 min, 6 after 20 min, "
        r"\d+ more in \d later waves?\.$"))
    page.get_by_label("How many").fill("1")
    expect(page.locator("#waves-out")).to_have_text(re.compile(
        # As many waves as the offer's lifetime holds (the form's default end is a time of day).
        r"^Told in \d+ waves while stock lasts \(nearest first\), about: 1 at once, 1 after 10 min, 1 after 20 min, "
        r"(\d+) more in \1 later waves\.$"))

    # The lower prices are folded away until asked for.
    expect(page.locator("#step1_at")).to_be_hidden()
    page.get_by_text("Lower the price later").click()
    rome = ZoneInfo("Europe/Rome")
    first = datetime.now(rome) + timedelta(minutes=30)
    page.locator("#step1_at").fill(first.strftime("%H:%M"))
    page.locator("#step1_discount_pct").fill("45")  # not below the offer's own price: refused
    expect(page.locator("#step1-price")).to_have_text("€2.20")
    page.get_by_role("button", name="Post offer").click()
    expect(page.locator("#step1_discount_pct-error")).to_have_text("gives 220 cents; must be below the offer's price (200 cents).")
    expect(page.locator("#step1_discount_pct")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#step1_at")).to_be_visible()  # the steps stay open, as typed
    expect(page.locator("#step1_at")).to_have_value(first.strftime("%H:%M"))
    screenshot(page, "shop-steps-error")

    page.locator("#step1_discount_pct").fill("55")
    expect(page.locator("#step1-price")).to_have_text("€1.80")
    page.get_by_role("button", name="Post offer").click()
    expect(page.locator(".flash")).to_contain_text("1 lower price scheduled.")

    row = page.locator(".offer").first
    # In the shop's own clock (the browser's zone), not UTC; with the date only when it is not today.
    at = rf"(\d+ \w+, )?{first.strftime('%H:%M')}"
    expect(row.locator(".steps-list li")).to_have_text(re.compile(rf"^from {at}:\s+€1\.80 \(−55 %\)$"))
    expect(row.locator(".next-price")).to_have_text(re.compile(rf"^Next price change at {at}\.$"))

    # The first wave tells the nearest resident (too few to show); the next is due ten minutes later.
    deadline = time.monotonic() + WAIT_MS / 1000
    while "Wave 1: fewer than 20 residents." not in row.locator(".waves-line").inner_text() and time.monotonic() < deadline:
        time.sleep(0.2)
        page.reload()
    expect(row.locator(".waves-line")).to_have_text(
        re.compile(r"^Wave 1: fewer than 20 residents\. Next wave at (\d+ \w+, )?\d\d:\d\d\.$"))
    screenshot(page, "shop-steps")
