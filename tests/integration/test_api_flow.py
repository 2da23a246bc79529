"""The main paths of API.md, end to end through the Flask app, on each database."""
from __future__ import annotations


def test_health_and_readiness(client):
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json["status"] == "ready"


def test_post_offer_and_find_it_nearby(api):
    m = api.merchant()
    shop = api.shop(m["api_key"])
    offer = api.offer(m["api_key"], shop["id"], original_price_cents=450, discount_pct=40)
    assert offer["price_cents"] == 270
    assert offer["discount_pct"] == 40.0
    assert offer["status"] == "active" and offer["quantity_left"] == 5
    assert offer["expires_at"].endswith("Z")

    near = api.c.get("/api/v1/deals", query_string={"lat": 45.4650, "lon": 9.1900, "radius_m": 500})
    assert near.status_code == 200
    [item] = near.json["items"]
    assert item["id"] == offer["id"]
    assert item["shop"]["id"] == shop["id"]
    assert 85 < item["distance_m"] < 95

    far = api.c.get("/api/v1/deals", query_string={"lat": 45.50, "lon": 9.19, "radius_m": 1000})
    assert far.json["items"] == []
