"""The server-rendered pages through the test client: CSRF fields, sign-in, the forms as a browser sends them."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.support.api import ADMIN_TOKEN

MILAN = ZoneInfo("Europe/Rome")  # the zone of the tests' shops, found from their place


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


def offer_form(shopkeeper, **changes) -> dict:
    # The form's times are on the shop's clock (the tests' shops are in Milan).
    until = (datetime.now(MILAN) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "csrf_token": shopkeeper["csrf"], "shop_id": shopkeeper["shop"]["id"], "title": "Pane di ieri",
        "category": "bakery", "original_price": "4.00", "discount_pct": "50", "quantity": "6",
        "expires_at": until,
    }
    form.update(changes)
    return form


RULE_FIELDS = ("min_discount_pct", "max_discount_pct", "default_radius_m", "max_radius_m", "max_offer_horizon_h",
               "min_offer_lifetime_s", "max_notifications_per_day", "max_shops_per_merchant", "wave_factor",
               "wave_interval_s", "max_reservation_quantity", "max_active_holds", "hold_minutes")


def console_rules(console: str) -> dict[str, str]:
    """The rules form as the console shows it, ticked boxes included: what a browser would send."""
    values = {name: re.search(rf'id="{name}" name="{name}" inputmode="(?:decimal|numeric)" value="([^"]*)"', console).group(1)
              for name in RULE_FIELDS}
    for box in ("merchant_approval_required", "waves_enabled"):
        tag = re.search(rf'<input id="{box}"[^>]*>', console).group(0)
        if " checked" in tag:
            values[box] = "true"
    return values


def sign_in_operator(client) -> str:
    token = csrf(client.get("/admin/").text)
    assert client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token}).status_code == 303
    return client.get("/admin/").text
