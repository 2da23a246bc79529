"""Signing up and placing a shop with the map's pin, and the operator's map, in Debian's Chromium."""
from __future__ import annotations

import random
import re
from datetime import datetime, timedelta, timezone

import requests
from playwright.sync_api import expect

from dealsvc.domain import privacy
from tests.support.api import ADMIN_TOKEN
from tests.support.browser import (  # noqa: F401 (fixtures)
    DESKTOP, SCREENSHOTS, WAIT_MS, Live, browser, context, live, merchant_with_shop, screenshot, settings, sign_in,
)

KEY = re.compile(r"^dsm_[A-Za-z0-9_-]{20,}$")


def pin_of(page, map_id: str) -> tuple[float, float]:
    return float(page.locator("#lat" if map_id == "signup-map" else "#shop-lat").input_value()), \
        float(page.locator("#lon" if map_id == "signup-map" else "#shop-lon").input_value())


def map_drawn(page, map_id: str) -> None:
    """Wait until Leaflet has drawn the map (maps.js is deferred): a click before it lands on a bare box."""
    expect(page.locator(f"#{map_id} .leaflet-control-zoom-in")).to_be_visible(timeout=WAIT_MS)


def drag_pin(page, map_id: str, dx: int, dy: int) -> None:
    box = page.locator(f"#{map_id} .leaflet-marker-icon").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 4  # the pin's point is at its foot
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=5)
    page.mouse.move(x + dx, y + dy, steps=5)
    page.mouse.up()


def test_a_shopkeeper_signs_up_placing_the_shop_with_the_pin(context, live):
    page = context.new_page()
    page.goto(live.url + "/shop/")
    page.get_by_role("link", name="Sign up your shop").click()
    page.get_by_label("Your business's name").fill("Forno Rossi")
    page.get_by_label("E-mail").fill("forno@shop.example")
    page.get_by_label("Category").select_option("bakery")
    expect(page.locator("#signup-map .leaflet-marker-icon")).to_have_count(0)

    # A click puts the pin there and fills the coordinates; dragging it moves them.
    map_drawn(page, "signup-map")
    page.locator("#signup-map").click(position={"x": 150, "y": 120})
    expect(page.locator("#signup-map .leaflet-marker-icon")).to_have_count(1)
    expect(page.locator("#lat")).not_to_have_value("")
    clicked = pin_of(page, "signup-map")
    expect(page.locator("#signup-map path.leaflet-interactive, #signup-map path")).to_have_count(2)  # the two reach circles
    drag_pin(page, "signup-map", 60, 40)
    expect(page.locator("#lat")).not_to_have_value(f"{clicked[0]:.6f}")
    dragged = pin_of(page, "signup-map")
    assert dragged[0] < clicked[0] and dragged[1] > clicked[1]  # down and to the right: south-east
    screenshot(page, "shop-signup")

    page.get_by_role("button", name="Sign up", exact=True).click()
    expect(page.locator("#signup-status")).to_have_text("Your account is active and you are signed in.")
    key = page.locator("#api-key").input_value()
    assert KEY.match(key)
    expect(page.locator("#done-map .leaflet-marker-icon")).to_have_count(1)
    screenshot(page, "shop-signup-key")
    shops = requests.get(live.url + "/api/v1/shops", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()["items"]
    assert [(s["name"], round(s["lat"], 6), round(s["lon"], 6)) for s in shops] == [("Forno Rossi", *dragged)]

    page.get_by_role("link", name="I have kept my key: go to my shop").click()
    expect(page.get_by_role("heading", name="Post an offer at Forno Rossi")).to_be_visible()
    assert key not in page.content()


def test_the_shop_form_places_another_shop_by_the_pin(context, live):
    key, shop = merchant_with_shop(live)
    page = context.new_page()
    sign_in(page, live, "/shop/", key)
    page.get_by_text("Add another shop").click()
    # The shop there already is shown; the new one is placed by a click, then a drag.
    page.locator("#shop-map").scroll_into_view_if_needed()
    map_drawn(page, "shop-map")
    page.locator("#shop-map").click(position={"x": 80, "y": 80})
    expect(page.locator("#shop-lat")).not_to_have_value("")
    drag_pin(page, "shop-map", -30, 30)
    placed = pin_of(page, "shop-map")
    assert placed != (shop["lat"], shop["lon"])
    page.locator("#shop-name").fill("Forno Rossi 2")
    page.get_by_role("button", name="Add shop").click()
    expect(page.locator(".flash")).to_contain_text("Shop “Forno Rossi 2” added.")
    shops = requests.get(live.url + "/api/v1/shops", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()["items"]
    assert [(round(s["lat"], 6), round(s["lon"], 6)) for s in shops if s["name"] == "Forno Rossi 2"] == [placed]


def seed_city(live: Live) -> dict[str, int]:
    """Residents around Milan: crowded cells near the centre, a few lone ones farther out."""
    rnd = random.Random(7)
    counts: dict[str, int] = {}
    for i in range(160):
        if i < 140:
            lat, lon = 45.4642 + rnd.gauss(0, 0.008), 9.19 + rnd.gauss(0, 0.011)
        else:
            lat, lon = 45.4642 + rnd.uniform(-0.05, 0.05), 9.19 + rnd.uniform(-0.07, 0.07)
        live.post("/api/v1/subscribers", {"fcm_token": f"seed-{i}", "lat": lat, "lon": lon, "radius_m": rnd.choice([500, 1000, 2000])})
        name = privacy.cell(lat, lon).name
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_the_operators_map_shows_cells_offers_and_the_reach_of_a_click(context, live):
    counts = seed_city(live)
    shown = {name for name, n in counts.items() if n >= privacy.FLOOR}
    assert shown and any(n < privacy.FLOOR for n in counts.values())
    key, shop = merchant_with_shop(live)
    other = live.post("/api/v1/shops", {"name": "Frutta Verdi", "category": "produce", "lat": 45.4580, "lon": 9.1750}, key)
    # Offers that live two hours, as the shop would post them.
    for at, title in ((shop, "Pane di ieri"), (other, "Pesche mature")):
        live.post("/api/v1/offers", {
            "shop_id": at["id"], "title": title, "category": at["category"], "original_price_cents": 400,
            "discount_pct": 50, "quantity": 5, "expires_at": (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat(),
        }, key)

    page = context.new_page()
    page.set_viewport_size(DESKTOP)
    sign_in(page, live, "/admin/", ADMIN_TOKEN)
    admin_map = page.locator("#admin-map")
    admin_map.scroll_into_view_if_needed()
    # Every cell of 10 residents or more in view is drawn with its count, and no other.
    expect(admin_map).to_have_attribute("data-cells", str(len(shown)))
    expect(page.locator("#admin-map .density-cell")).to_have_count(len(shown))
    labels = page.locator("#admin-map .cell-count").all_text_contents()
    assert sorted(int(t.split()[0]) for t in labels) == sorted(counts[n] for n in shown)
    expect(page.locator("#admin-map .live-offer")).to_have_count(2)

    # A click: the reach of that point, as the reach service counts it.
    box = admin_map.bounding_box()
    admin_map.click(position={"x": box["width"] / 2 + 120, "y": box["height"] / 2 - 40})
    expect(admin_map).to_have_attribute("data-reach", re.compile(r"^\d+$"))
    reach = int(admin_map.get_attribute("data-reach"))
    expect(page.locator("#admin-map-status")).to_have_text(
        f"An offer here would reach {reach} resident{'s' if reach != 1 else ''} now.")
    assert reach > 0
    # The point also fills the console's "Reach of a point" form.
    expect(page.locator("#lat")).not_to_have_value("")
    expect(page.locator("#lon")).not_to_have_value("")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("section[aria-labelledby='map-h']").screenshot(path=str(SCREENSHOTS / "admin-map-desktop.png"))
