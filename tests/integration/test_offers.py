"""An offer's life through the API: quantity, sold out, cancelled, expired, and the deals listed nearby."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from dealsvc.adapters.db.models import Offer

HERE = (45.4642, 9.1900)  # Piazza del Duomo, Milano


def patch(api, key, offer_id, **body):
    return api.c.patch(f"/api/v1/offers/{offer_id}", json=body, headers=api.h(key))


def get(api, offer_id) -> dict:
    r = api.c.get(f"/api/v1/offers/{offer_id}")
    assert r.status_code == 200, r.json
    return r.json


def deal_ids(api, lat=HERE[0], lon=HERE[1], **query) -> list[str]:
    r = api.c.get("/api/v1/deals", query_string={"lat": lat, "lon": lon, **query})
    assert r.status_code == 200, r.json
    return [d["id"] for d in r.json["items"]]


def expire_now(container, offer_id: str) -> None:
    """What the clock does to an offer while nothing (no scheduler) touches its row."""
    with container.db.write() as s:
        s.execute(
            update(Offer)
            .where(Offer.id == offer_id)
            .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
        )


@pytest.fixture
def owner(api):
    key = api.merchant()["api_key"]
    return key, api.shop(key, *HERE)["id"]


def test_a_new_quantity_changes_quantity_and_what_is_left(api, owner):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=5)

    r = patch(api, key, offer["id"], quantity=8)
    assert r.status_code == 200, r.json
    assert (r.json["quantity"], r.json["quantity_left"], r.json["status"]) == (8, 8, "active")

    r = patch(api, key, offer["id"], quantity=2)
    assert (r.json["quantity"], r.json["quantity_left"], r.json["status"]) == (2, 2, "active")
    stored = get(api, offer["id"])
    assert (stored["quantity"], stored["quantity_left"]) == (2, 2)


def test_marking_an_offer_sold_out_empties_it_and_unlists_it(api, owner):
    key, shop_id = owner
    offer = api.offer(key, shop_id)
    assert deal_ids(api) == [offer["id"]]

    r = patch(api, key, offer["id"], status="sold_out")

    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["quantity_left"]) == ("sold_out", 0)
    assert (get(api, offer["id"])["status"], get(api, offer["id"])["quantity_left"]) == ("sold_out", 0)
    assert deal_ids(api) == []


def test_a_quantity_of_zero_is_sold_out(api, owner):
    key, shop_id = owner
    offer = api.offer(key, shop_id)
    r = patch(api, key, offer["id"], quantity=0)
    assert (r.json["status"], r.json["quantity_left"]) == ("sold_out", 0)
    assert deal_ids(api) == []


@pytest.mark.parametrize("how", [{"status": "sold_out"}, {"quantity": 0}])
def test_more_stock_makes_a_sold_out_offer_active_again(api, owner, how):
    key, shop_id = owner
    offer = api.offer(key, shop_id, quantity=5)
    assert patch(api, key, offer["id"], **how).json["status"] == "sold_out"

    r = patch(api, key, offer["id"], quantity=3)

    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["quantity"], r.json["quantity_left"]) == ("active", 3, 3)
    assert get(api, offer["id"])["status"] == "active"
    assert deal_ids(api) == [offer["id"]]


def test_a_cancelled_offer_is_final_and_never_listed(api, owner):
    key, shop_id = owner
    offer = api.offer(key, shop_id)

    r = patch(api, key, offer["id"], status="cancelled")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "cancelled"

    for body in ({"quantity": 9}, {"status": "sold_out"}, {"status": "cancelled"}, {"quantity": 1, "status": "sold_out"}):
        r = patch(api, key, offer["id"], **body)
        assert r.status_code == 409, (body, r.json)
        assert r.mimetype == "application/problem+json"
    stored = get(api, offer["id"])
    assert (stored["status"], stored["quantity"], stored["quantity_left"]) == ("cancelled", 5, 5)
    assert deal_ids(api) == []


def test_a_sold_out_offer_can_be_cancelled(api, owner):
    key, shop_id = owner
    offer = api.offer(key, shop_id)
    patch(api, key, offer["id"], status="sold_out")
    r = patch(api, key, offer["id"], status="cancelled")
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert patch(api, key, offer["id"], quantity=4).status_code == 409
    assert deal_ids(api) == []


@pytest.mark.parametrize("before", [None, "sold_out"])
def test_an_offer_past_its_expiry_reads_expired_though_its_row_says_otherwise(api, container, owner, before):
    key, shop_id = owner
    offer = api.offer(key, shop_id)
    if before:
        patch(api, key, offer["id"], status=before)
    expire_now(container, offer["id"])

    assert get(api, offer["id"])["status"] == "expired"
    assert deal_ids(api) == []
    listed = api.c.get("/api/v1/offers", query_string={"shop_id": shop_id}, headers=api.h(key)).json["items"]
    assert [o["status"] for o in listed] == ["expired"]
    for body in ({"quantity": 9}, {"status": "sold_out"}, {"status": "cancelled"}):
        r = patch(api, key, offer["id"], **body)
        assert r.status_code == 409, (body, r.json)
        assert r.mimetype == "application/problem+json"
    assert get(api, offer["id"])["status"] == "expired"


def test_deals_are_nearest_first_and_honour_category_and_limit(api):
    key = api.merchant()["api_key"]
    # Due north of HERE: about 111, 333 and 555 m away.
    near = api.shop(key, HERE[0] + 0.001, HERE[1], category="bakery")["id"]
    mid = api.shop(key, HERE[0] + 0.003, HERE[1], category="produce")["id"]
    far = api.shop(key, HERE[0] + 0.005, HERE[1], category="bakery")["id"]
    # Posted farthest first, so the order cannot come from insertion.
    o_far = api.offer(key, far, category="bakery")["id"]
    o_mid = api.offer(key, mid, category="produce")["id"]
    o_near = api.offer(key, near, category="bakery")["id"]
    o_near_dairy = api.offer(key, near, category="dairy", expires_at=(datetime.now(timezone.utc) + timedelta(hours=3)).isoformat())["id"]

    r = api.c.get("/api/v1/deals", query_string={"lat": HERE[0], "lon": HERE[1], "radius_m": 1000})
    items = r.json["items"]
    assert [d["id"] for d in items] == [o_near, o_near_dairy, o_mid, o_far]
    distances = [d["distance_m"] for d in items]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(111.1, abs=1) and distances[-1] == pytest.approx(555.6, abs=2)
    assert items[2]["shop"]["id"] == mid

    assert deal_ids(api, radius_m=400) == [o_near, o_near_dairy, o_mid]
    assert deal_ids(api, radius_m=1000, category="bakery") == [o_near, o_far]
    assert deal_ids(api, radius_m=1000, category="produce") == [o_mid]
    assert deal_ids(api, radius_m=1000, category="fish") == []
    assert deal_ids(api, radius_m=1000, limit=2) == [o_near, o_near_dairy]
    assert deal_ids(api, radius_m=1000, category="bakery", limit=1) == [o_near]


def test_deals_default_to_the_default_radius(api):
    key = api.merchant()["api_key"]
    inside = api.offer(key, api.shop(key, HERE[0] + 0.008, HERE[1])["id"])["id"]  # ~890 m
    api.offer(key, api.shop(key, HERE[0] + 0.010, HERE[1])["id"])  # ~1110 m
    assert deal_ids(api) == [inside]


def test_a_deals_radius_above_the_maximum_is_a_422(api):
    r = api.c.get("/api/v1/deals", query_string={"lat": HERE[0], "lon": HERE[1], "radius_m": 5001})
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    assert "radius_m" in r.json["errors"]
    assert api.c.get("/api/v1/deals", query_string={"lat": HERE[0], "lon": HERE[1], "radius_m": 5000}).status_code == 200


def test_a_merchant_lists_the_offers_of_their_shop(api, owner):
    key, shop_id = owner
    first = api.offer(key, shop_id, title="Focaccia")
    second = api.offer(key, shop_id, title="Croissant")
    patch(api, key, second["id"], status="cancelled")
    other_shop = api.shop(key)["id"]
    api.offer(key, other_shop, title="Elsewhere")

    r = api.c.get("/api/v1/offers", query_string={"shop_id": shop_id}, headers=api.h(key))

    assert r.status_code == 200, r.json
    assert {(o["id"], o["status"]) for o in r.json["items"]} == {(first["id"], "active"), (second["id"], "cancelled")}


def test_another_merchants_offers_and_shops_are_not_found(api, owner):
    key, shop_id = owner
    offer = api.offer(key, shop_id)
    stranger = api.merchant()["api_key"]

    r = api.c.get("/api/v1/offers", query_string={"shop_id": shop_id}, headers=api.h(stranger))
    assert r.status_code == 404
    assert api.c.get("/api/v1/offers", query_string={"shop_id": shop_id}).status_code == 401
    assert patch(api, stranger, offer["id"], status="cancelled").status_code == 404
    assert get(api, offer["id"])["status"] == "active"
