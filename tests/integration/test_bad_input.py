"""Malformed input to every route that takes a body or a query: 400/422/413 problem+json, never a 500."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest

from tests.support.api import ADMIN_TOKEN
from tests.support.snapshots import built_once

PROBLEM_JSON = "application/problem+json"
MB = 1024 * 1024
DROP = object()  # in an Edit: remove this field from the valid body


@dataclass(frozen=True)
class World:
    """One of everything, so that every route has something to act on."""

    merchant_id: str
    merchant_key: str
    shop_id: str
    offer_id: str
    subscriber_id: str
    subscriber_secret: str


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # formatted with the World's fields
    caller: str | None  # "merchant", "subscriber", "operator" or None (no credentials)
    valid: Callable[[World], dict[str, Any]]


def _in(hours: float, offset_h: int = 1) -> str:
    """A time `hours` ahead, written with a non-UTC offset as a client in Milan would."""
    zone = timezone(timedelta(hours=offset_h))
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).astimezone(zone).isoformat()


ROUTES: dict[str, Route] = {
    "merchants": Route(
        "POST", "/api/v1/merchants", None,
        lambda w: {"name": "Latteria Bianchi", "email": "latteria@shop.example"},
    ),
    "shops": Route(
        "POST", "/api/v1/shops", "merchant",
        lambda w: {"name": "Forno Due", "category": "bakery", "lat": 45.47, "lon": 9.18, "address": "Via Roma 1"},
    ),
    "offers": Route(
        "POST", "/api/v1/offers", "merchant",
        lambda w: {
            "shop_id": w.shop_id,
            "title": "Focaccia",
            "description": "Della mattina",
            "category": "bakery",
            "original_price_cents": 400,
            "discount_pct": 50,
            "quantity": 5,
            "expires_at": _in(2),
            "currency": "EUR",
            "image_url": "https://img.example/focaccia.jpg",
        },
    ),
    "offer_patch": Route("PATCH", "/api/v1/offers/{offer_id}", "merchant", lambda w: {"quantity": 3}),
    "subscribers": Route(
        "POST", "/api/v1/subscribers", None,
        lambda w: {
            "fcm_token": "tok-bad-input",
            "lat": 45.4650,
            "lon": 9.1900,
            "radius_m": 800,
            "categories": ["bakery"],
            "quiet_hours": {"start": "22:00", "end": "07:00"},
            "timezone": "Europe/Rome",
            "max_per_day": 3,
        },
    ),
    "subscriber_patch": Route(
        "PATCH", "/api/v1/subscribers/{subscriber_id}", "subscriber",
        lambda w: {"radius_m": 900, "quiet_hours": {"start": "23:00", "end": "06:30"}},
    ),
    "rules": Route("PUT", "/api/v1/admin/rules", "operator", lambda w: {"max_radius_m": 6000}),
    "merchant_status": Route(
        "PATCH", "/api/v1/admin/merchants/{merchant_id}", "operator", lambda w: {"status": "suspended"}
    ),
}

QUERY_ROUTES: dict[str, Route] = {
    "deals": Route("GET", "/api/v1/deals", None, lambda w: {"lat": "45.4650", "lon": "9.19", "radius_m": "500"}),
    "reach": Route("GET", "/api/v1/admin/reach", "operator", lambda w: {"lat": "45.4650", "lon": "9.19"}),
}


# --- how a case's body is made from the route's valid body --------------------------------


@dataclass(frozen=True)
class Edit:
    """The valid body with these fields replaced (DROP removes one); sent as JSON text, so a
    float('nan') goes out as the bare token NaN, as a sloppy client would write it."""

    changes: dict[str, Any] = field(default_factory=dict)

    def render(self, base: dict[str, Any]) -> str:
        body = dict(base)
        for key, value in self.changes.items():
            if value is DROP:
                body.pop(key, None)
            else:
                body[key] = value
        return json.dumps(body)


@dataclass(frozen=True)
class Raw:
    """These exact bytes, whatever the route."""

    text: str

    def render(self, base: dict[str, Any]) -> str:
        return self.text


@dataclass(frozen=True)
class Case:
    route: str
    body: Edit | Raw
    status: int
    key: str | None  # the field errors must name (None for 413)
    content_type: str = "application/json"


def edit(**changes) -> Edit:
    return Edit(changes)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


NAN = math.nan
INF = math.inf
BIG = "x" * MB
NUL = "bad\x00value"

# Malformed in the same way on every body route.
COMMON = [
    ("invalid_json", Raw('{"name": "Forno", '), 400, "body"),
    ("json_array", Raw('[{"name": "Forno"}]'), 400, "body"),
    ("bare_string", Raw('"Forno"'), 400, "body"),
    ("bare_number", Raw("42"), 400, "body"),
    ("json_null", Raw("null"), 400, "body"),
    ("empty_body", Raw(""), 400, "body"),
    ("nested_too_deep", Raw('{"a": ' + _deep(20_000) + "}"), 400, "body"),
    ("integer_with_5000_digits", Raw('{"a": 1' + "0" * 5000 + "}"), 400, "body"),
    ("unknown_field", edit(colour="red"), 400, "colour"),
]

BY_ROUTE: dict[str, list[tuple[str, Edit | Raw, int, str | None]]] = {
    "merchants": [
        ("name_number", edit(name=42), 400, "name"),
        ("name_bool", edit(name=True), 400, "name"),
        ("name_list", edit(name=["Latteria"]), 400, "name"),
        ("name_missing", edit(name=DROP), 400, "name"),
        ("name_blank", edit(name="   "), 400, "name"),
        ("name_nul", edit(name=NUL), 400, "name"),
        ("name_60kb", edit(name="n" * 60_000), 400, "name"),
        ("name_1mb", edit(name=BIG), 413, None),
        ("email_missing", edit(email=DROP), 400, "email"),
        ("email_invalid", edit(email="not-an-email"), 400, "email"),
        ("email_object", edit(email={"address": "a@b.example"}), 400, "email"),
        ("email_nul", edit(email="late\x00ria@shop.example"), 400, "email"),
        ("email_null", edit(email=None), 400, "email"),
    ],
    "shops": [
        ("lat_string", edit(lat="45.47"), 400, "lat"),
        ("lat_bool", edit(lat=True), 400, "lat"),
        ("lat_list", edit(lat=[45.47]), 400, "lat"),
        ("lat_object", edit(lat={"deg": 45}), 400, "lat"),
        ("lat_nan", edit(lat=NAN), 400, "lat"),
        ("lat_infinity", edit(lat=INF), 400, "lat"),
        ("lon_minus_infinity", edit(lon=-INF), 400, "lon"),
        ("lat_91", edit(lat=91), 400, "lat"),
        ("lon_minus_181", edit(lon=-181), 400, "lon"),
        ("lat_1e999", Raw('{"name": "F", "category": "bakery", "lat": 1e999, "lon": 9.1}'), 400, "lat"),
        ("lat_400_digits", Raw('{"name": "F", "category": "bakery", "lat": 1' + "0" * 400 + ', "lon": 9.1}'), 400, "lat"),
        ("lat_without_lon", edit(lon=DROP, address=DROP), 400, "lon"),
        ("no_place_at_all", edit(lat=DROP, lon=DROP, address=DROP), 400, "address"),
        ("name_missing", edit(name=DROP), 400, "name"),
        ("name_nul", edit(name=NUL), 400, "name"),
        ("name_lone_surrogate", Raw('{"name": "\\ud800", "category": "bakery", "lat": 45.0, "lon": 9.0}'), 400, "name"),
        ("name_1mb", edit(name=BIG), 413, None),
        ("address_too_long", edit(address="Via " + "a" * 600), 400, "address"),
        ("category_unknown", edit(category="spaceship"), 400, "category"),
        ("category_number", edit(category=3), 400, "category"),
    ],
    "offers": [
        ("shop_id_number", edit(shop_id=17), 400, "shop_id"),
        ("shop_id_missing", edit(shop_id=DROP), 400, "shop_id"),
        ("shop_id_nul", edit(shop_id="shp_\x00"), 400, "shop_id"),
        ("title_missing", edit(title=DROP), 400, "title"),
        ("title_too_long", edit(title="t" * 121), 400, "title"),
        ("title_nul", edit(title=NUL), 400, "title"),
        ("title_1mb", edit(title=BIG), 413, None),
        ("description_too_long", edit(description="d" * 2001), 400, "description"),
        ("category_unknown", edit(category="spaceship"), 400, "category"),
        ("original_price_string", edit(original_price_cents="400"), 400, "original_price_cents"),
        ("original_price_float", edit(original_price_cents=400.5), 400, "original_price_cents"),
        ("original_price_integral_float", edit(original_price_cents=400.0), 400, "original_price_cents"),
        ("original_price_bool", edit(original_price_cents=True), 400, "original_price_cents"),
        ("original_price_negative", edit(original_price_cents=-400), 400, "original_price_cents"),
        ("original_price_zero", edit(original_price_cents=0), 400, "original_price_cents"),
        ("original_price_missing", edit(original_price_cents=DROP), 400, "original_price_cents"),
        ("price_negative", edit(discount_pct=DROP, price_cents=-1), 400, "price_cents"),
        ("price_float", edit(discount_pct=DROP, price_cents=199.5), 400, "price_cents"),
        ("price_and_discount", edit(price_cents=200), 400, "price_cents"),
        ("neither_price_nor_discount", edit(discount_pct=DROP), 400, "discount_pct"),
        ("discount_string", edit(discount_pct="50"), 400, "discount_pct"),
        ("discount_bool", edit(discount_pct=True), 400, "discount_pct"),
        ("discount_nan", edit(discount_pct=NAN), 400, "discount_pct"),
        ("discount_negative", edit(discount_pct=-5), 400, "discount_pct"),
        ("discount_101", edit(discount_pct=101), 400, "discount_pct"),
        ("discount_100_outside_band", edit(discount_pct=100), 422, "discount_pct"),
        ("discount_10_below_band", edit(discount_pct=10), 422, "discount_pct"),
        ("discount_70_above_band", edit(discount_pct=70), 422, "discount_pct"),
        ("price_gives_5pct", edit(discount_pct=DROP, price_cents=380), 422, "price_cents"),
        ("price_equal_to_original", edit(discount_pct=DROP, price_cents=400), 422, "price_cents"),
        ("price_zero_is_100pct", edit(discount_pct=DROP, price_cents=0), 422, "price_cents"),
        ("quantity_zero", edit(quantity=0), 400, "quantity"),
        ("quantity_1000", edit(quantity=1000), 400, "quantity"),
        ("quantity_float", edit(quantity=2.5), 400, "quantity"),
        ("quantity_integral_float", edit(quantity=5.0), 400, "quantity"),
        ("quantity_string", edit(quantity="5"), 400, "quantity"),
        ("quantity_bool", edit(quantity=True), 400, "quantity"),
        ("quantity_null", edit(quantity=None), 400, "quantity"),
        ("quantity_list", edit(quantity=[5]), 400, "quantity"),
        ("expires_naive", edit(expires_at=(datetime.now() + timedelta(hours=2)).replace(microsecond=0).isoformat()), 400, "expires_at"),
        ("expires_date_only", edit(expires_at=datetime.now(timezone.utc).date().isoformat()), 400, "expires_at"),
        ("expires_year_9999_negative_offset", edit(expires_at="9999-12-31T23:59:59-05:00"), 400, "expires_at"),
        ("expires_year_0", edit(expires_at="0000-01-01T00:00:00+00:00"), 400, "expires_at"),
        ("expires_year_1_positive_offset", edit(expires_at="0001-01-01T00:00:00+05:00"), 400, "expires_at"),
        ("expires_hour_25", edit(expires_at="2030-01-01T25:00:00+01:00"), 400, "expires_at"),
        ("expires_words", edit(expires_at="tomorrow evening"), 400, "expires_at"),
        ("expires_unix_number", edit(expires_at=1_900_000_000), 400, "expires_at"),
        ("expires_beyond_horizon", edit(expires_at=_in(100, offset_h=-5)), 422, "expires_at"),
        ("expires_too_soon", edit(expires_at=_in(0.05)), 422, "expires_at"),
        ("expires_in_the_past", edit(expires_at=_in(-1)), 422, "expires_at"),
        ("currency_lowercase", edit(currency="eur"), 400, "currency"),
        ("currency_four_letters", edit(currency="EURO"), 400, "currency"),
        ("currency_nul", edit(currency="EU\x00"), 400, "currency"),
        ("image_url_javascript", edit(image_url="javascript:alert(1)"), 400, "image_url"),
        ("image_url_not_a_url", edit(image_url="focaccia.jpg"), 400, "image_url"),
        ("status_not_settable", edit(status="active"), 400, "status"),
    ],
    "offer_patch": [
        ("nothing_to_change", Raw("{}"), 400, "quantity"),
        ("quantity_string", edit(quantity="3"), 400, "quantity"),
        ("quantity_negative", edit(quantity=-1), 400, "quantity"),
        ("quantity_1000", edit(quantity=1000), 400, "quantity"),
        ("quantity_float", edit(quantity=2.5), 400, "quantity"),
        ("quantity_bool", edit(quantity=False), 400, "quantity"),
        ("quantity_nan", edit(quantity=NAN), 400, "quantity"),
        ("status_expired", edit(status="expired"), 400, "status"),
        ("status_active", edit(status="active"), 400, "status"),
        ("status_number", edit(status=1), 400, "status"),
        ("status_nul", edit(status="cancelled\x00"), 400, "status"),
        ("price_not_patchable", edit(price_cents=100), 400, "price_cents"),
        ("expiry_not_patchable", edit(expires_at=_in(3)), 400, "expires_at"),
        ("body_1mb", edit(status=BIG), 413, None),
    ],
    "subscribers": [
        ("fcm_token_missing", edit(fcm_token=DROP), 400, "fcm_token"),
        ("fcm_token_number", edit(fcm_token=12345), 400, "fcm_token"),
        ("fcm_token_empty", edit(fcm_token=""), 400, "fcm_token"),
        ("fcm_token_too_long", edit(fcm_token="t" * 5000), 400, "fcm_token"),
        ("fcm_token_nul", edit(fcm_token="tok\x00en"), 400, "fcm_token"),
        ("fcm_token_lone_surrogate", Raw('{"fcm_token": "tok\\udc00", "lat": 45.0, "lon": 9.0}'), 400, "fcm_token"),
        ("fcm_token_1mb", edit(fcm_token=BIG), 413, None),
        ("lat_missing", edit(lat=DROP), 400, "lat"),
        ("lat_nan", edit(lat=NAN), 400, "lat"),
        ("lon_infinity", edit(lon=INF), 400, "lon"),
        ("lat_string", edit(lat="45.465"), 400, "lat"),
        ("lat_bool", edit(lat=False), 400, "lat"),
        ("lat_null", edit(lat=None), 400, "lat"),
        ("lat_91", edit(lat=91), 400, "lat"),
        ("lon_minus_181", edit(lon=-181), 400, "lon"),
        ("radius_zero", edit(radius_m=0), 400, "radius_m"),
        ("radius_negative", edit(radius_m=-100), 400, "radius_m"),
        ("radius_float", edit(radius_m=800.5), 400, "radius_m"),
        ("radius_string", edit(radius_m="800"), 400, "radius_m"),
        ("radius_bool", edit(radius_m=True), 400, "radius_m"),
        ("radius_above_max", edit(radius_m=5001), 422, "radius_m"),
        ("categories_string", edit(categories="bakery"), 400, "categories"),
        ("categories_unknown", edit(categories=["bakery", "spaceship"]), 400, "categories.1"),
        ("categories_object_item", edit(categories=[{"name": "bakery"}]), 400, "categories.0"),
        ("categories_nul", edit(categories=["bakery\x00"]), 400, "categories"),
        ("quiet_hours_unknown_nested", edit(quiet_hours={"start": "22:00", "end": "07:00", "days": "weekdays"}), 400, "quiet_hours.days"),
        ("quiet_hours_start_25", edit(quiet_hours={"start": "25:00", "end": "07:00"}), 400, "quiet_hours.start"),
        ("quiet_hours_end_one_digit_hour", edit(quiet_hours={"start": "22:00", "end": "7:00"}), 400, "quiet_hours.end"),
        ("quiet_hours_end_missing", edit(quiet_hours={"start": "22:00"}), 400, "quiet_hours.end"),
        ("quiet_hours_empty_span", edit(quiet_hours={"start": "22:00", "end": "22:00"}), 400, "quiet_hours.end"),
        ("quiet_hours_start_number", edit(quiet_hours={"start": 2200, "end": "07:00"}), 400, "quiet_hours.start"),
        ("quiet_hours_with_seconds", edit(quiet_hours={"start": "22:00:00", "end": "07:00"}), 400, "quiet_hours.start"),
        ("quiet_hours_string", edit(quiet_hours="22:00-07:00"), 400, "quiet_hours"),
        ("quiet_hours_list", edit(quiet_hours=["22:00", "07:00"]), 400, "quiet_hours"),
        ("timezone_unknown", edit(timezone="Mars/Olympus_Mons"), 400, "timezone"),
        ("timezone_offset", edit(timezone="UTC+1"), 400, "timezone"),
        ("timezone_path", edit(timezone="../../etc/passwd"), 400, "timezone"),
        ("timezone_number", edit(timezone=1), 400, "timezone"),
        ("max_per_day_zero", edit(max_per_day=0), 400, "max_per_day"),
        ("max_per_day_101", edit(max_per_day=101), 400, "max_per_day"),
        ("max_per_day_float", edit(max_per_day=1.5), 400, "max_per_day"),
        ("max_per_day_bool", edit(max_per_day=True), 400, "max_per_day"),
        ("secret_not_settable", edit(secret="dss_chosen"), 400, "secret"),
    ],
    "subscriber_patch": [
        ("lat_without_lon", Raw('{"lat": 45.47}'), 400, "lon"),
        ("lat_lon_null", Raw('{"lat": null, "lon": null}'), 400, "lat"),
        ("lat_nan", Raw('{"lat": NaN, "lon": 9.19}'), 400, "lat"),
        ("lon_minus_infinity", Raw('{"lat": 45.0, "lon": -Infinity}'), 400, "lon"),
        ("lat_91", Raw('{"lat": 91, "lon": 9.19}'), 400, "lat"),
        ("radius_above_max", edit(radius_m=6000), 422, "radius_m"),
        ("radius_zero", edit(radius_m=0), 400, "radius_m"),
        ("radius_float", edit(radius_m=900.0), 400, "radius_m"),
        ("fcm_token_empty", edit(fcm_token=""), 400, "fcm_token"),
        ("fcm_token_null", edit(fcm_token=None), 400, "fcm_token"),
        ("fcm_token_nul", edit(fcm_token="tok\x00"), 400, "fcm_token"),
        ("categories_null", edit(categories=None), 400, "categories"),
        ("categories_unknown", edit(categories=["bakery", 7]), 400, "categories.1"),
        ("quiet_hours_unknown_nested", edit(quiet_hours={"start": "22:00", "end": "07:00", "x": 1}), 400, "quiet_hours.x"),
        ("quiet_hours_bad_minutes", edit(quiet_hours={"start": "22:60", "end": "07:00"}), 400, "quiet_hours.start"),
        ("quiet_hours_nul", edit(quiet_hours={"start": "22:00\x00", "end": "07:00"}), 400, "quiet_hours.start"),
        ("timezone_unknown", edit(timezone="Nowhere/Special"), 400, "timezone"),
        ("id_not_settable", edit(id="sub_other"), 400, "id"),
        ("active_not_settable", edit(active=False), 400, "active"),
        ("body_1mb", edit(fcm_token=BIG), 413, None),
    ],
    "rules": [
        ("min_discount_string", edit(min_discount_pct="40"), 400, "min_discount_pct"),
        ("min_discount_nan", edit(min_discount_pct=NAN), 400, "min_discount_pct"),
        ("min_discount_negative", edit(min_discount_pct=-1), 400, "min_discount_pct"),
        ("max_discount_100", edit(max_discount_pct=100), 400, "max_discount_pct"),
        ("min_discount_bool", edit(min_discount_pct=True), 400, "min_discount_pct"),
        ("min_discount_null", edit(min_discount_pct=None), 400, "min_discount_pct"),
        ("max_radius_float", edit(max_radius_m=1.5), 400, "max_radius_m"),
        ("max_radius_zero", edit(max_radius_m=0), 400, "max_radius_m"),
        ("max_radius_string", edit(max_radius_m="5000"), 400, "max_radius_m"),
        ("horizon_list", edit(max_offer_horizon_h=[72]), 400, "max_offer_horizon_h"),
        ("approval_number", edit(merchant_approval_required=1), 400, "merchant_approval_required"),
        ("approval_string", edit(merchant_approval_required="true"), 400, "merchant_approval_required"),
        ("min_above_max_discount", edit(max_radius_m=DROP, min_discount_pct=70), 422, "min_discount_pct"),
        ("default_above_max_radius", edit(max_radius_m=DROP, default_radius_m=6000), 422, "default_radius_m"),
        ("lifetime_beyond_horizon", edit(max_radius_m=DROP, max_offer_horizon_h=1, min_offer_lifetime_s=7200), 422, "min_offer_lifetime_s"),
        ("body_1mb", edit(max_radius_m=BIG), 413, None),
    ],
    "merchant_status": [
        ("status_pending", edit(status="pending"), 400, "status"),
        ("status_unknown", edit(status="deleted"), 400, "status"),
        ("status_number", edit(status=1), 400, "status"),
        ("status_null", edit(status=None), 400, "status"),
        ("status_missing", Raw("{}"), 400, "status"),
        ("email_not_settable", edit(email="new@shop.example"), 400, "email"),
        ("body_1mb", edit(status=BIG), 413, None),
    ],
}

CASES: list = []
for _route in ROUTES:
    for _name, _body, _status, _key in COMMON + BY_ROUTE[_route]:
        CASES.append(pytest.param(Case(_route, _body, _status, _key), id=f"{_route}-{_name}"))
    CASES.append(pytest.param(
        Case(_route, Raw('{"a": 1}'), 400, "body", "text/plain"), id=f"{_route}-json_sent_as_text_plain"))
    CASES.append(pytest.param(
        Case(_route, Raw("name=Forno&lat=45"), 400, "body", "application/x-www-form-urlencoded"),
        id=f"{_route}-form_encoded_body"))
    CASES.append(pytest.param(
        Case(_route, Raw("\x89PNG\r\n\x1a\n not json at all"), 400, "body", "image/png"), id=f"{_route}-binary_body"))
    CASES.append(pytest.param(
        Case(_route, Raw('{"a": "' + BIG + '"}'), 413, None), id=f"{_route}-one_megabyte_body"))


# (route, query changes, status, key); None in the changes removes a parameter.
QUERY_CASES = [
    ("deals", {"lat": None}, 400, "lat"),
    ("deals", {"lon": None}, 400, "lon"),
    ("deals", {"lat": "north"}, 400, "lat"),
    ("deals", {"lat": "nan"}, 400, "lat"),
    ("deals", {"lat": "NaN"}, 400, "lat"),
    ("deals", {"lon": "inf"}, 400, "lon"),
    ("deals", {"lon": "-Infinity"}, 400, "lon"),
    ("deals", {"lat": "1e999"}, 400, "lat"),
    ("deals", {"lat": "91"}, 400, "lat"),
    ("deals", {"lon": "-181"}, 400, "lon"),
    ("deals", {"lat": "45\x00"}, 400, "lat"),
    ("deals", {"lat": "4" * 100_000}, 400, "lat"),
    ("deals", {"lat": "true"}, 400, "lat"),
    ("deals", {"radius_m": "0"}, 400, "radius_m"),
    ("deals", {"radius_m": "-5"}, 400, "radius_m"),
    ("deals", {"radius_m": "1.5"}, 400, "radius_m"),
    ("deals", {"radius_m": "far"}, 400, "radius_m"),
    ("deals", {"radius_m": "5001"}, 422, "radius_m"),
    ("deals", {"radius_m": "9" * 40}, 422, "radius_m"),
    ("deals", {"limit": "0"}, 400, "limit"),
    ("deals", {"limit": "101"}, 400, "limit"),
    ("deals", {"limit": "ten"}, 400, "limit"),
    ("deals", {"category": "spaceship"}, 400, "category"),
    ("reach", {"lat": None}, 400, "lat"),
    ("reach", {"lon": None}, 400, "lon"),
    ("reach", {"lat": "nan"}, 400, "lat"),
    ("reach", {"lon": "Infinity"}, 400, "lon"),
    ("reach", {"lat": "-90.0001"}, 400, "lat"),
    ("reach", {"lon": "181"}, 400, "lon"),
    ("reach", {"lat": "45,46"}, 400, "lat"),
    ("reach", {"lon": "9\x00"}, 400, "lon"),
]


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def world(request, container, api) -> World:
    """Built through the API once per module and database, put back before each test."""
    def build() -> World:
        m = api.merchant(name="Forno Rossi")
        shop = api.shop(m["api_key"], lat=45.4642, lon=9.1900)
        offer = api.offer(m["api_key"], shop["id"])
        sub = api.subscriber(lat=45.4650, lon=9.1900)
        return World(m["id"], m["api_key"], shop["id"], offer["id"], sub["id"], sub["secret"])

    return built_once(request, container, build)


def _credentials(world: World, caller: str | None) -> dict[str, str]:
    secret = {
        None: None,
        "merchant": world.merchant_key,
        "subscriber": world.subscriber_secret,
        "operator": ADMIN_TOKEN,
    }[caller]
    return {"Authorization": f"Bearer {secret}"} if secret else {}


def _state(client, world: World) -> dict[str, Any]:
    """Everything a bad request could have changed, as the API shows it."""
    op = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    mer = {"Authorization": f"Bearer {world.merchant_key}"}
    sub = {"Authorization": f"Bearer {world.subscriber_secret}"}
    reads = {
        "merchants": client.get("/api/v1/admin/merchants", headers=op),
        "shops": client.get("/api/v1/shops", headers=mer),
        "offers": client.get("/api/v1/offers", query_string={"shop_id": world.shop_id}, headers=mer),
        "subscriber": client.get(f"/api/v1/subscribers/{world.subscriber_id}", headers=sub),
        "rules": client.get("/api/v1/admin/rules", headers=op),
        "rules_history": client.get("/api/v1/admin/rules/history", headers=op),
        # A subscriber stored by mistake would be counted here (every body is at this point).
        "reach": client.get("/api/v1/admin/reach", query_string={"lat": 45.4650, "lon": 9.1900}, headers=op),
    }
    for name, r in reads.items():
        assert r.status_code == 200, (name, r.status_code, r.get_data(as_text=True)[:300])
    return {name: r.json for name, r in reads.items()}


def _assert_problem(r, status: int, key: str | None) -> dict[str, Any]:
    text = r.get_data(as_text=True)
    assert r.status_code == status, (r.status_code, text[:500])
    assert r.mimetype == PROBLEM_JSON, r.content_type
    body = json.loads(text)
    for name in ("type", "title", "status", "detail"):
        assert name in body, (name, body)
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if status in (400, 422):
        errors = body.get("errors")
        assert isinstance(errors, dict) and errors, body
        assert key in errors, (key, errors)
        for field_name, messages in errors.items():
            assert isinstance(messages, list) and messages, (field_name, messages)
            assert all(isinstance(m, str) and m for m in messages), (field_name, messages)
    return body


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ROUTES) + sorted(QUERY_ROUTES))
def test_the_valid_request_each_case_breaks_is_accepted(client, world, name):
    """The control: without the one defect each case adds, the request succeeds."""
    route = {**ROUTES, **QUERY_ROUTES}[name]
    path = route.path.format(**world.__dict__)
    headers = _credentials(world, route.caller)
    if route.method == "GET":
        r = client.get(path, query_string=route.valid(world), headers=headers)
    else:
        r = client.open(path, method=route.method, json=route.valid(world), headers=headers)
    assert 200 <= r.status_code < 300, (r.status_code, r.get_data(as_text=True)[:500])


@pytest.mark.parametrize("case", CASES)
def test_a_malformed_body_is_refused_with_a_problem_and_changes_nothing(client, world, case: Case):
    route = ROUTES[case.route]
    before = _state(client, world)
    data = case.body.render(route.valid(world)).encode("utf-8", "surrogatepass")
    r = client.open(
        route.path.format(**world.__dict__),
        method=route.method,
        data=data,
        content_type=case.content_type,
        headers=_credentials(world, route.caller),
    )
    _assert_problem(r, case.status, case.key)
    assert _state(client, world) == before


@pytest.mark.parametrize(
    "route_name, changes, status, key",
    QUERY_CASES,
    ids=[f"{c[0]}-{'-'.join(f'{k}={str(v)[:12]!r}' for k, v in c[1].items())}" for c in QUERY_CASES],
)
def test_a_malformed_query_is_refused_with_a_problem(client, world, route_name, changes, status, key):
    route = QUERY_ROUTES[route_name]
    query = route.valid(world)
    for name, value in changes.items():
        if value is None:
            query.pop(name)
        else:
            query[name] = value
    r = client.get(route.path, query_string=query, headers=_credentials(world, route.caller))
    _assert_problem(r, status, key)


def test_a_stranger_with_a_malformed_body_is_told_to_authenticate_first(client, world):
    """Credentials are checked before the body: no schema detail leaks to a stranger."""
    r = client.post("/api/v1/offers", data='{"lat": NaN', content_type="application/json")
    assert r.status_code == 401
    assert r.mimetype == PROBLEM_JSON
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert "errors" not in r.json


def test_rejected_offers_are_never_listed_or_found_nearby(client, world):
    """After a burst of bad offers the shop still has only its one good offer, everywhere."""
    headers = _credentials(world, "merchant")
    base = ROUTES["offers"].valid(world)
    for changes in ({"discount_pct": 100}, {"quantity": 0}, {"expires_at": "2030-01-01T10:00:00"}, {"price_cents": 1}):
        r = client.post("/api/v1/offers", data=json.dumps({**base, **changes}), content_type="application/json", headers=headers)
        assert r.status_code in (400, 422), r.json
    listed = client.get("/api/v1/offers", query_string={"shop_id": world.shop_id}, headers=headers).json["items"]
    assert [o["id"] for o in listed] == [world.offer_id]
    near = client.get("/api/v1/deals", query_string={"lat": 45.4642, "lon": 9.19, "radius_m": 1000}).json["items"]
    assert [o["id"] for o in near] == [world.offer_id]
