"""A suspended merchant gets 403 on creating shops and offers and on every offer
change but withdrawal (through the API and the /shop/ pages alike), and suspending a merchant (API
or /admin/ console) withdraws its live offers at once: the residents told get the withdrawal,
through firebase-admin and the FCM emulator."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from dealsvc.adapters.db.models import Fanout, Merchant, Reservation
from tests.support.api import ADMIN_TOKEN
from tests.support.pages import csrf
from tests.support.push import env  # noqa: F401  (the fixture)

SHOP = (45.4642, 9.1900)
NEAR = (45.4660, 9.1900)  # 200 m from the shop
OP = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def suspend(api, merchant_id: str):
    return api.c.patch(f"/api/v1/admin/merchants/{merchant_id}", json={"status": "suspended"}, headers=OP)


def patch(api, key: str, offer_id: str, body: dict):
    return api.c.patch(f"/api/v1/offers/{offer_id}", json=body, headers=api.h(key))


def offer_now(api, offer_id: str) -> dict:
    return api.c.get(f"/api/v1/offers/{offer_id}").json


def waves(container, offer_id: str) -> list[int]:
    with container.db.read() as s:
        return sorted(s.scalars(select(Fanout.seq).where(Fanout.offer_id == offer_id, Fanout.kind == "offer")))


def forbidden(r) -> dict:
    assert r.status_code == 403, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/problem+json"
    return r.json


@pytest.fixture
def merchant(api):
    m = api.merchant()
    shop = api.shop(m["api_key"], *SHOP)
    return m, shop


def test_a_suspended_merchant_cannot_add_shops_post_or_bring_a_sold_out_offer_back(api, merchant, container):
    m, shop = merchant
    key = m["api_key"]
    sold_out = api.offer(key, shop["id"], quantity=1)
    buyer = api.subscriber()["secret"]
    assert api.c.post(f"/api/v1/offers/{sold_out['id']}/reservations", json={"quantity": 1},
                      headers=api.h(buyer)).status_code == 201
    assert offer_now(api, sold_out["id"])["status"] == "sold_out"

    r = suspend(api, m["id"])
    assert r.status_code == 200 and r.json["status"] == "suspended", r.json

    forbidden(api.c.post("/api/v1/shops", json={"name": "Forno Due", "category": "bakery", "lat": 45.47, "lon": 9.19},
                         headers=api.h(key)))
    forbidden(api.c.post("/api/v1/offers", json=api.offer_body(shop["id"]), headers=api.h(key)))
    # Raising the quantity of the sold-out offer used to make it active and start a new wave.
    forbidden(patch(api, key, sold_out["id"], {"quantity": 20}))
    assert offer_now(api, sold_out["id"])["status"] == "cancelled"
    assert waves(container, sold_out["id"]) == [1]
    assert [s["id"] for s in api.c.get("/api/v1/shops", headers=api.h(key)).json["items"]] == [shop["id"]]
    # Reading stays possible.
    assert api.c.get("/api/v1/merchants/me", headers=api.h(key)).json["status"] == "suspended"

    # Restored, it works again; pending merchants keep their behaviour (tests/integration/test_rules.py).
    assert api.c.patch(f"/api/v1/admin/merchants/{m['id']}", json={"status": "active"}, headers=OP).status_code == 200
    assert api.c.post("/api/v1/offers", json=api.offer_body(shop["id"]), headers=api.h(key)).status_code == 201


def test_a_suspended_merchant_with_live_offers_may_only_withdraw_them(api, merchant, container):
    """A merchant suspended before this version kept its live offers: every change but the
    withdrawal is refused, the quantity raise of a sold-out one included."""
    m, shop = merchant
    key = m["api_key"]
    active = api.offer(key, shop["id"], quantity=5)
    sold_out = api.offer(key, shop["id"], quantity=1)
    assert api.c.post(f"/api/v1/offers/{sold_out['id']}/reservations", json={"quantity": 1},
                      headers=api.h(api.subscriber()["secret"])).status_code == 201
    with container.db.write() as s:
        s.execute(update(Merchant).where(Merchant.id == m["id"]).values(status="suspended"))

    later = (container.clock() + timedelta(minutes=30)).isoformat()
    for offer, body in [
        (sold_out, {"quantity": 3}),
        (sold_out, {"quantity": 3, "status": "cancelled"}),
        (active, {"quantity": 9}),
        (active, {"status": "sold_out"}),
        (active, {"price_steps": [{"at": later, "discount_pct": 55}]}),
    ]:
        forbidden(patch(api, key, offer["id"], body))
    assert (offer_now(api, sold_out["id"])["status"], offer_now(api, active["id"])["status"]) == ("sold_out", "active")
    assert offer_now(api, active["id"])["price_steps"] == []
    assert waves(container, sold_out["id"]) == [1]

    for offer in (active, sold_out):
        r = patch(api, key, offer["id"], {"status": "cancelled"})
        assert r.status_code == 200 and r.json["status"] == "cancelled", r.json


@pytest.mark.parametrize("how", ["api", "console"])
def test_suspension_withdraws_live_offers_and_the_residents_told_get_the_withdrawal(env, how):
    m = env.api.merchant()
    key = m["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
    other_key = env.api.merchant()["api_key"]
    other_shop = env.api.shop(other_key, lat=SHOP[0], lon=SHOP[1], name="Latteria")
    told = env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token="tok-told")
    holder = env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token="tok-holder")
    expires = (env.clock.now + timedelta(hours=2)).isoformat()
    first = env.api.offer(key, shop["id"], quantity=4, expires_at=expires, title="Pane")
    second = env.api.offer(key, shop["id"], quantity=3, expires_at=expires, title="Focaccia")
    untouched = env.api.offer(other_key, other_shop["id"], quantity=3, expires_at=expires, title="Latte")
    env.drain()
    assert {mm["data"]["offer_id"] for mm in env.received("tok-told")} == {first["id"], second["id"], untouched["id"]}
    hold = env.api.c.post(f"/api/v1/offers/{first['id']}/reservations", json={"quantity": 2},
                          headers=env.api.h(holder["secret"]))
    assert hold.status_code == 201

    if how == "api":
        r = suspend(env.api, m["id"])
        assert r.status_code == 200, r.json
        assert (r.json["status"], r.json["offers_withdrawn"]) == ("suspended", 2)
    else:
        console = env.api.c
        console.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": csrf(console.get("/admin/").text)})
        page = console.get("/admin/").text
        r = console.post(f"/admin/merchants/{m['id']}/suspend", data={"csrf_token": csrf(page)})
        assert r.status_code == 303
        assert "is now suspended. 2 live offers withdrawn." in console.get("/admin/").text

    # At once, before any push: neither listed nor reservable, the hold released.
    assert {offer_now(env.api, o["id"])["status"] for o in (first, second)} == {"cancelled"}
    deals = env.api.c.get(f"/api/v1/deals?lat={SHOP[0]}&lon={SHOP[1]}&radius_m=1000").json["items"]
    assert [d["id"] for d in deals] == [untouched["id"]]
    with env.container.db.read() as s:
        assert s.get(Reservation, hold.json["id"]).status == "released"
    assert offer_now(env.api, first["id"])["quantity_left"] == 4

    env.drain()
    for token in ("tok-told", "tok-holder"):
        withdrawn = {mm["data"]["offer_id"]: mm for mm in env.received(token) if mm["data"]["type"] == "withdrawn"}
        assert set(withdrawn) == {first["id"], second["id"]}, token
        assert {mm["data"]["status"] for mm in withdrawn.values()} == {"cancelled"}
        assert all(mm["android"]["collapse_key"] == f"offer-{oid}" for oid, mm in withdrawn.items())
        assert "notification" not in withdrawn[first["id"]]
    assert offer_now(env.api, untouched["id"])["status"] == "active"
    env.drain()
    assert len(env.received("tok-told")) == 5  # three alerts, two withdrawals, once each


def test_the_shop_pages_refuse_what_the_api_refuses(client, api, container):
    m = api.merchant()
    key = m["api_key"]
    shop = api.shop(key, *SHOP)
    offer = api.offer(key, shop["id"], quantity=5)
    with container.db.write() as s:  # suspended with a live offer (before this version)
        s.execute(update(Merchant).where(Merchant.id == m["id"]).values(status="suspended"))
    token = csrf(client.get("/shop/").text)
    assert client.post("/shop/signin", data={"secret": key, "csrf_token": token}).status_code == 303
    page = client.get("/shop/").text
    assert "Your account is suspended" in page
    token = csrf(page)

    r = client.post("/shop/shops", data={"csrf_token": token, "name": "Forno Due", "category": "bakery",
                                         "lat": "45.47", "lon": "9.19"})
    assert r.status_code == 403 and "suspended and cannot add shops" in r.text
    until = (container.clock() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    r = client.post("/shop/offers", data={"csrf_token": token, "shop_id": shop["id"], "title": "Pane", "category": "bakery",
                                          "original_price": "4", "discount_pct": "50", "quantity": "3",
                                          "expires_at": until, "tz": "UTC"})
    assert r.status_code == 403
    r = client.post(f"/shop/offers/{offer['id']}/quantity", data={"csrf_token": token, "quantity": "9"})
    assert r.status_code == 403 and "can only be withdrawn" in r.text
    assert offer_now(api, offer["id"])["quantity"] == 5
    assert len(api.c.get("/api/v1/shops", headers=api.h(key)).json["items"]) == 1

    r = client.post(f"/shop/offers/{offer['id']}/withdraw", data={"csrf_token": token})
    assert r.status_code == 303
    assert offer_now(api, offer["id"])["status"] == "cancelled"
