"""The operator's rules through the API: defaults, changes applied at once, history, consistency, approval."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.support.api import ADMIN_TOKEN

RULES = "/api/v1/admin/rules"
HISTORY = "/api/v1/admin/rules/history"
OP = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

from tests.support.rules import DEFAULT_RULES as DEFAULTS  # noqa: E402


def in_(**delta) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


@pytest.fixture
def shop(api):
    m = api.merchant()
    return m["api_key"], api.shop(m["api_key"])["id"]


def post_offer(api, key, shop_id, **extra):
    body = api.offer_body(shop_id, **extra)
    if "price_cents" in extra:
        del body["discount_pct"]
    return api.c.post("/api/v1/offers", json=body, headers=api.h(key))


def test_the_rules_start_at_the_documented_defaults(client):
    r = client.get(RULES, headers=OP)
    assert r.status_code == 200
    assert r.json == DEFAULTS


def test_only_the_operator_reads_and_changes_the_rules(api):
    key = api.merchant()["api_key"]
    assert api.c.get(RULES).status_code == 401
    assert api.c.get(RULES, headers=api.h(key)).status_code == 403
    assert api.c.put(RULES, json={"max_radius_m": 100}, headers=api.h(key)).status_code == 403
    assert api.c.get(HISTORY, headers=api.h(key)).status_code == 403
    assert api.c.get(RULES, headers=OP).json == DEFAULTS


def test_a_put_changes_only_the_rules_it_names(api):
    answer = api.rules(max_discount_pct=70, max_notifications_per_day=2)

    expected = {**DEFAULTS, "max_discount_pct": 70, "max_notifications_per_day": 2}
    assert answer == expected
    assert api.c.get(RULES, headers=OP).json == expected

    assert api.rules(merchant_approval_required=True) == {**expected, "merchant_approval_required": True}


def test_a_higher_minimum_discount_refuses_a_previously_valid_offer_at_once(api, shop):
    key, shop_id = shop
    assert post_offer(api, key, shop_id, discount_pct=45).status_code == 201
    assert post_offer(api, key, shop_id, price_cents=220).status_code == 201  # 45 %

    api.rules(min_discount_pct=50)

    r = post_offer(api, key, shop_id, discount_pct=45)
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    assert "discount_pct" in r.json["errors"]
    r = post_offer(api, key, shop_id, price_cents=220)
    assert r.status_code == 422
    assert "price_cents" in r.json["errors"]
    assert post_offer(api, key, shop_id, discount_pct=50).status_code == 201


def test_a_lower_maximum_discount_refuses_a_deep_discount_at_once(api, shop):
    key, shop_id = shop
    api.rules(max_discount_pct=50)
    r = post_offer(api, key, shop_id, discount_pct=55)
    assert r.status_code == 422 and "discount_pct" in r.json["errors"]
    api.rules(max_discount_pct=60)
    assert post_offer(api, key, shop_id, discount_pct=55).status_code == 201


def test_a_lower_maximum_radius_refuses_larger_subscriber_radii_at_once(api):
    assert api.subscriber(radius_m=3000)["radius_m"] == 3000

    api.rules(max_radius_m=2000)

    r = api.c.post("/api/v1/subscribers", json={"fcm_token": "tok-new", "lat": 45.46, "lon": 9.19, "radius_m": 3000})
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    assert "radius_m" in r.json["errors"]
    assert api.subscriber(radius_m=2000)["radius_m"] == 2000

    deals = api.c.get("/api/v1/deals", query_string={"lat": 45.46, "lon": 9.19, "radius_m": 2001})
    assert deals.status_code == 422 and "radius_m" in deals.json["errors"]


def test_a_new_default_radius_applies_to_the_next_subscriber(api):
    assert api.subscriber()["radius_m"] == 1000
    api.rules(default_radius_m=1500)
    assert api.subscriber()["radius_m"] == 1500


def test_the_horizon_bounds_how_far_ahead_an_offer_may_expire(api, shop):
    key, shop_id = shop
    r = post_offer(api, key, shop_id, expires_at=in_(hours=73))
    assert r.status_code == 422 and "expires_at" in r.json["errors"]
    assert post_offer(api, key, shop_id, expires_at=in_(hours=71)).status_code == 201

    api.rules(max_offer_horizon_h=1)

    r = post_offer(api, key, shop_id, expires_at=in_(minutes=70))
    assert r.status_code == 422 and "expires_at" in r.json["errors"]
    assert post_offer(api, key, shop_id, expires_at=in_(minutes=50)).status_code == 201


def test_the_minimum_lifetime_bounds_how_soon_an_offer_may_expire(api, shop):
    key, shop_id = shop
    r = post_offer(api, key, shop_id, expires_at=in_(minutes=9))
    assert r.status_code == 422 and "expires_at" in r.json["errors"]
    assert post_offer(api, key, shop_id, expires_at=in_(minutes=11)).status_code == 201

    api.rules(min_offer_lifetime_s=3600)

    r = post_offer(api, key, shop_id, expires_at=in_(minutes=50))
    assert r.status_code == 422 and "expires_at" in r.json["errors"]
    assert post_offer(api, key, shop_id, expires_at=in_(minutes=61)).status_code == 201

    api.rules(min_offer_lifetime_s=60)
    assert post_offer(api, key, shop_id, expires_at=in_(minutes=5)).status_code == 201


def test_the_history_lists_every_change_newest_first(api):
    assert api.c.get(HISTORY, headers=OP).json == {"items": []}
    before = datetime.now(timezone.utc)

    api.rules(min_discount_pct=30)
    api.rules(max_radius_m=8000, merchant_approval_required=True)
    api.rules(min_discount_pct=35)
    api.rules(min_discount_pct=35)  # no change, no line

    r = api.c.get(HISTORY, headers=OP)
    assert r.status_code == 200
    items = r.json["items"]
    assert [(i["name"], i["old_value"], i["new_value"]) for i in items[:1]] == [("min_discount_pct", 30, 35)]
    assert sorted((i["name"], i["old_value"], i["new_value"]) for i in items[1:3]) == [
        ("max_radius_m", 5000, 8000),
        ("merchant_approval_required", False, True),
    ]
    assert [(i["name"], i["old_value"], i["new_value"]) for i in items[3:]] == [("min_discount_pct", 40, 30)]
    times = [datetime.fromisoformat(i["changed_at"].replace("Z", "+00:00")) for i in items]
    assert all(i["changed_at"].endswith("Z") for i in items)
    assert times == sorted(times, reverse=True)
    assert before - timedelta(seconds=1) <= times[-1] <= times[0] <= datetime.now(timezone.utc) + timedelta(seconds=1)


@pytest.mark.parametrize(
    "change, fields",
    [
        ({"min_discount_pct": 70}, {"min_discount_pct"}),
        ({"max_discount_pct": 30}, {"max_discount_pct"}),
        ({"min_discount_pct": 55, "max_discount_pct": 50}, {"min_discount_pct", "max_discount_pct"}),
        ({"default_radius_m": 6000}, {"default_radius_m"}),
        ({"max_radius_m": 500}, {"max_radius_m"}),
        ({"max_offer_horizon_h": 1, "min_offer_lifetime_s": 7200}, {"max_offer_horizon_h", "min_offer_lifetime_s"}),
    ],
)
def test_contradictory_rules_are_refused_and_change_nothing(api, change, fields):
    r = api.c.put(RULES, json=change, headers=OP)

    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    assert fields <= set(r.json["errors"]), r.json
    assert api.c.get(RULES, headers=OP).json == DEFAULTS
    assert api.c.get(HISTORY, headers=OP).json == {"items": []}


def test_rules_that_agree_together_may_change_in_one_put(api):
    # Each alone would contradict the other's current value; together they agree.
    answer = api.rules(min_discount_pct=70, max_discount_pct=80)
    assert (answer["min_discount_pct"], answer["max_discount_pct"]) == (70, 80)
    answer = api.rules(default_radius_m=200, max_radius_m=500)
    assert (answer["default_radius_m"], answer["max_radius_m"]) == (200, 500)


def test_merchants_wait_for_approval_when_the_rule_asks_for_it(api):
    veteran = api.merchant()
    api.rules(merchant_approval_required=True)

    newcomer = api.merchant()
    assert newcomer["status"] == "pending"
    key = newcomer["api_key"]
    shop_id = api.shop(key)["id"]
    r = post_offer(api, key, shop_id)
    assert r.status_code == 403
    assert r.mimetype == "application/problem+json"

    # Merchants already active stay active.
    assert post_offer(api, veteran["api_key"], api.shop(veteran["api_key"])["id"]).status_code == 201

    pending = api.c.get("/api/v1/admin/merchants", query_string={"status": "pending"}, headers=OP)
    assert [m["id"] for m in pending.json["items"]] == [newcomer["id"]]

    r = api.c.patch(f"/api/v1/admin/merchants/{newcomer['id']}", json={"status": "active"}, headers=OP)
    assert r.status_code == 200 and r.json["status"] == "active"
    assert api.c.get("/api/v1/merchants/me", headers=api.h(key)).json["status"] == "active"
    assert post_offer(api, key, shop_id).status_code == 201


def test_a_suspended_merchant_cannot_post_offers(api):
    m = api.merchant()
    key = m["api_key"]
    shop_id = api.shop(key)["id"]
    assert post_offer(api, key, shop_id).status_code == 201

    r = api.c.patch(f"/api/v1/admin/merchants/{m['id']}", json={"status": "suspended"}, headers=OP)
    assert r.status_code == 200 and r.json["status"] == "suspended"

    r = post_offer(api, key, shop_id)
    assert r.status_code == 403
    assert r.mimetype == "application/problem+json"


def test_only_the_operator_moderates_merchants(api):
    m = api.merchant()
    other = api.merchant()
    r = api.c.patch(f"/api/v1/admin/merchants/{m['id']}", json={"status": "active"}, headers=api.h(other["api_key"]))
    assert r.status_code == 403
    r = api.c.patch("/api/v1/admin/merchants/mer_000000000000000000000000", json={"status": "active"}, headers=OP)
    assert r.status_code == 404
