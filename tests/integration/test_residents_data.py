"""A resident's data given back (GET /api/v1/subscribers/{id}/export), the privacy notice they
accepted, and a merchant's personal data erased by the operator, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime

from dealsvc.domain.consent import CURRENT_NOTICE
from tests.support.api import ADMIN_TOKEN
from tests.support.geocoding import geo_container, geo_settings  # noqa: F401, F811 (fixtures among them)
from tests.support.push import env, post_offer  # noqa: F401, F811 (fixtures among them)

SHOP = (45.4642, 9.1900)
PLACES = [
    {"label": "work", "lat": 45.4700, "lon": 9.1950, "days": ["mon", "tue"], "hours": {"start": "09:00", "end": "18:00"}},
    {"label": "gym", "lat": 45.4600, "lon": 9.1800, "radius_m": 500},
]


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _shop(env, name: str, lat: float = SHOP[0]):
    m = env.api.merchant()
    return m["api_key"], env.api.shop(m["api_key"], lat=lat, lon=SHOP[1], name=name)


def _export(env, resident: dict, secret: str | None = None):
    return env.api.c.get(f"/api/v1/subscribers/{resident['id']}/export", headers=env.api.h(secret or resident["secret"]))


def test_the_export_holds_exactly_what_is_kept_about_the_resident(env):
    key, bakery = _shop(env, "Forno Rossi")
    _, dairy = _shop(env, "Latteria", lat=45.4650)
    _, far = _shop(env, "Macelleria", lat=45.5000)
    resident = env.api.subscriber(lat=45.4660, lon=9.1900, fcm_token="tok-export", radius_m=1500, places=PLACES,
                                  privacy_notice_version=CURRENT_NOTICE)
    other = env.api.subscriber(lat=45.4661, lon=9.1900, fcm_token="tok-other", places=PLACES[:1])
    for shop in (bakery, dairy, far):
        r = env.api.c.post(f"/api/v1/subscribers/{resident['id']}/favorites", json={"shop_id": shop["id"]},
                           headers=env.api.h(resident["secret"]))
        assert r.status_code == 201, r.json
    first = post_offer(env, key, bakery)
    second = post_offer(env, key, bakery, title="Focaccia")
    env.drain()
    reservation = env.api.c.post(f"/api/v1/offers/{first['id']}/reservations", json={"quantity": 1},
                                 headers=env.api.h(resident["secret"])).json
    assert len(env.received("tok-export")) == 2

    r = _export(env, resident)
    assert r.status_code == 200, r.json
    data = r.json
    assert set(data) == {"exported_at", "subscriber", "favorites", "reservations", "alerts"}
    sub = data["subscriber"]
    assert (sub["id"], sub["lat"], sub["lon"], sub["radius_m"]) == (resident["id"], 45.4660, 9.1900, 1500)
    assert [p["label"] for p in sub["places"]] == ["work", "gym"]
    assert sub["places"][0]["days"] == ["mon", "tue"] and sub["places"][0]["hours"] == {"start": "09:00", "end": "18:00"}
    assert sub["token"] == {"fcm_token": "tok-export", "seen_at": _iso(env.clock.now)}
    assert sub["privacy_notice"] == {"version": CURRENT_NOTICE, "accepted_at": _iso(env.clock.now)}
    assert sorted(f["name"] for f in data["favorites"]) == ["Forno Rossi", "Latteria", "Macelleria"]
    assert [(x["id"], x["offer_id"], x["quantity"], x["code"], x["status"]) for x in data["reservations"]] == [
        (reservation["id"], first["id"], 1, reservation["code"], "held")]
    assert sorted((a["offer_id"], a["offer_title"], a["kind"], a["status"]) for a in data["alerts"]) == sorted([
        (first["id"], "Pane di ieri", "alert", "sent"), (second["id"], "Focaccia", "alert", "sent")])
    assert [(a["shop_id"], round(a["distance_m"], -1)) for a in data["alerts"]] == [(bakery["id"], 200)] * 2
    # Nothing of the other resident.
    assert "tok-other" not in r.text and other["id"] not in r.text

    # Only the resident's own secret opens it; anyone else reads a missing subscriber.
    assert _export(env, resident, other["secret"]).status_code == 404
    assert _export(env, resident, key).status_code in (401, 403)
    assert env.api.c.get(f"/api/v1/subscribers/{resident['id']}/export").status_code == 401
    # After leaving there is nothing to give back.
    assert env.api.c.delete(f"/api/v1/subscribers/{resident['id']}", headers=env.api.h(resident["secret"])).status_code == 204
    assert _export(env, resident).status_code == 401


def test_the_export_is_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").json
    operation = doc["paths"]["/api/v1/subscribers/{subscriber_id}/export"]["get"]
    assert set(operation["responses"]) >= {"200", "404"}
    erase = doc["paths"]["/api/v1/admin/merchants/{merchant_id}/erase"]["post"]
    assert set(erase["responses"]) >= {"200", "404"}
    created = doc["components"]["schemas"]["SubscriberCreate"]["properties"]
    assert created["privacy_notice_version"]["enum"] == [CURRENT_NOTICE]


def test_the_privacy_notice_accepted_is_recorded_with_its_time(env):
    resident = env.api.subscriber(fcm_token="tok-consent", privacy_notice_version=CURRENT_NOTICE)
    assert resident["privacy_notice"] == {"version": CURRENT_NOTICE, "accepted_at": _iso(env.clock.now)}
    joined_at = env.clock.now
    silent = env.api.subscriber(fcm_token="tok-none")
    assert silent["privacy_notice"] is None

    env.clock.advance(days=3)
    h = env.api.h(resident["secret"])
    r = env.api.c.patch(f"/api/v1/subscribers/{resident['id']}", json={"radius_m": 800}, headers=h)
    assert r.json["privacy_notice"]["accepted_at"] == _iso(joined_at)  # untouched by other changes
    r = env.api.c.patch(f"/api/v1/subscribers/{resident['id']}", json={"privacy_notice_version": CURRENT_NOTICE}, headers=h)
    assert r.status_code == 200 and r.json["privacy_notice"]["accepted_at"] == _iso(env.clock.now)
    assert env.api.c.get(f"/api/v1/subscribers/{resident['id']}", headers=h).json["privacy_notice"]["version"] == CURRENT_NOTICE

    bad = env.api.c.post("/api/v1/subscribers", json={"fcm_token": "t", "lat": 45, "lon": 9, "privacy_notice_version": "1999"})
    assert bad.status_code == 400 and "privacy_notice_version" in bad.json["errors"]


def test_the_operator_erases_a_merchants_personal_data_and_keeps_the_figures(env):
    m = env.api.merchant(email="mario.rossi@example.org", name="Mario Rossi")
    key = m["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1], name="Da Mario", address="Via Roma 1, Milano")
    env.api.subscriber(lat=45.4660, lon=9.1900, fcm_token="tok-a")
    env.api.subscriber(lat=45.4661, lon=9.1900, fcm_token="tok-b")
    past = post_offer(env, key, shop, description="Chiamate Mario al 333 1234567")
    env.drain()
    env.clock.advance(hours=3)  # that offer is over
    live = post_offer(env, key, shop)
    env.drain()
    stats_before = {o["id"]: env.container.offers.counts(o["id"]) for o in (past, live)}
    op = env.api.h(ADMIN_TOKEN)

    assert env.api.c.post(f"/api/v1/admin/merchants/{m['id']}/erase", headers=env.api.h(key)).status_code == 403
    assert env.api.c.post("/api/v1/admin/merchants/mer_nobody/erase", headers=op).status_code == 404
    r = env.api.c.post(f"/api/v1/admin/merchants/{m['id']}/erase", headers=op)
    assert r.status_code == 200, r.json
    assert {k: r.json[k] for k in ("status", "shops", "offers", "offers_withdrawn")} == {
        "status": "suspended", "shops": 1, "offers": 2, "offers_withdrawn": 1}

    listed = {x["id"]: x for x in env.api.c.get("/api/v1/admin/merchants", headers=op).json["items"]}[m["id"]]
    assert "mario" not in (listed["name"] + listed["email"]).lower()
    got = env.api.c.get(f"/api/v1/shops/{shop['id']}").json
    assert "Mario" not in got["name"] and got["address"] is None
    assert (got["lat"], got["lon"], got["category"]) == (shop["lat"], shop["lon"], shop["category"])
    offer = env.api.c.get(f"/api/v1/offers/{past['id']}").json
    assert offer["description"] is None and offer["price_cents"] == past["price_cents"]
    assert env.api.c.get(f"/api/v1/offers/{live['id']}").json["status"] == "cancelled"
    # The key no longer opens anything; the figures of its offers read as before.
    assert env.api.c.get(f"/api/v1/offers/{past['id']}/stats", headers=env.api.h(key)).status_code == 401
    after = {o["id"]: env.container.offers.counts(o["id"]) for o in (past, live)}
    assert after[past["id"]] == stats_before[past["id"]]
    assert {k: after[live["id"]][k] for k in ("matched", "sent")} == {
        k: stats_before[live["id"]][k] for k in ("matched", "sent")}
    # Erasing again changes nothing; the e-mail is free for a new sign-up.
    again = env.api.c.post(f"/api/v1/admin/merchants/{m['id']}/erase", headers=op).json
    assert again["erased_at"] == r.json["erased_at"] and again["offers_withdrawn"] == 0
    env.api.merchant(email="mario.rossi@example.org")


def test_the_console_erases_a_merchant_only_once_confirmed(client, api):
    from tests.support.pages import csrf

    m = api.merchant(email="anna.bianchi@example.org", name="Anna Bianchi")
    client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": csrf(client.get("/admin/").text)})
    page = client.get("/admin/").text
    assert f'action="/admin/merchants/{m["id"]}/erase"' in page and "Erase personal data…" in page
    token = csrf(page)

    r = client.post(f"/admin/merchants/{m['id']}/erase", data={"csrf_token": token})  # not confirmed
    assert r.status_code == 303
    page = client.get("/admin/").text
    assert "Nothing erased: tick the confirmation first." in page and "anna.bianchi@example.org" in page

    r = client.post(f"/admin/merchants/{m['id']}/erase", data={"csrf_token": token, "confirm": "yes"})
    assert r.status_code == 303
    page = client.get("/admin/").text
    assert "The merchant&#39;s personal data is erased." in page or "The merchant's personal data is erased." in page
    assert "anna.bianchi" not in page and "Anna Bianchi" not in page
    assert "personal data erased" in page
    assert f'/admin/merchants/{m["id"]}/approve' not in page  # an erased account is not brought back
    assert client.post("/admin/merchants/mer_nobody/erase", data={"csrf_token": token, "confirm": "yes"}).status_code == 404


def test_the_export_says_which_alerts_the_resident_opened_and_when(env):
    key, bakery = _shop(env, "Forno Rossi")
    resident = env.api.subscriber(lat=45.4660, lon=9.1900, fcm_token="tok-opened")
    first = post_offer(env, key, bakery)
    second = post_offer(env, key, bakery, title="Focaccia")
    env.drain()
    by_offer = {m["data"]["offer_id"]: m["data"]["notification_id"] for m in env.received("tok-opened")}
    env.clock.advance(minutes=5)
    opened_at = env.clock.now
    r = env.api.c.post(f"/api/v1/notifications/{by_offer[first['id']]}/opened", headers=env.api.h(resident["secret"]))
    assert r.status_code == 204

    alerts = {a["offer_id"]: a for a in _export(env, resident).json["alerts"]}
    # The date of the tap is kept about the resident: it is given back, with the id the push carried.
    assert (alerts[first["id"]]["notification_id"], alerts[first["id"]]["opened_at"]) == (by_offer[first["id"]], _iso(opened_at))
    assert (alerts[second["id"]]["notification_id"], alerts[second["id"]]["opened_at"]) == (by_offer[second["id"]], None)


def test_erasing_a_merchant_stops_serving_its_photos_but_not_another_shops_same_picture(env):
    from urllib.parse import urlsplit

    from tests.support.photos import phone_jpeg

    def put(key: str, offer: dict, picture: bytes) -> list[str]:
        r = env.api.c.put(f"/api/v1/offers/{offer['id']}/photo", data=picture,
                          headers={**env.api.h(key), "Content-Type": "image/jpeg"})
        assert r.status_code == 200, r.json
        return [urlsplit(r.json[k]).path for k in ("image_url", "thumbnail_url")]

    m = env.api.merchant(email="mario.rossi@example.org", name="Mario Rossi")
    key, shop = m["api_key"], env.api.shop(m["api_key"], lat=SHOP[0], lon=SHOP[1], name="Da Mario")
    own = put(key, post_offer(env, key, shop), phone_jpeg((320, 240)))  # only this merchant's
    shared = put(key, post_offer(env, key, shop, title="Focaccia"), phone_jpeg((300, 200)))
    other_key, other_shop = _shop(env, "Latteria", lat=45.4650)
    assert put(other_key, post_offer(env, other_key, other_shop), phone_jpeg((300, 200))) == shared
    for path in own + shared:
        assert env.api.c.get(path).status_code == 200

    r = env.api.c.post(f"/api/v1/admin/merchants/{m['id']}/erase", headers=env.api.h(ADMIN_TOKEN))
    assert r.status_code == 200, r.json
    # Its pictures are no longer given to anyone holding their address (a push, a cache, a list)...
    assert [env.api.c.get(path).status_code for path in own] == [404, 404]
    # ...while the other shop's offer, showing the very same picture, still shows it.
    assert [env.api.c.get(path).status_code for path in shared] == [200, 200]


def test_an_erased_merchant_cannot_be_approved_again(client, api):
    from tests.support.pages import sign_in_operator

    op = api.h(ADMIN_TOKEN)
    m = api.merchant(email="luca.verdi@example.org", name="Luca Verdi")
    assert client.post(f"/api/v1/admin/merchants/{m['id']}/erase", headers=op).status_code == 200
    r = client.patch(f"/api/v1/admin/merchants/{m['id']}", json={"status": "active"}, headers={**op, "Accept-Language": "it"})
    assert r.status_code == 409 and "cancellati" in r.json["detail"], r.json
    sign_in_operator(client)
    from tests.support.pages import csrf
    page = client.post(f"/admin/merchants/{m['id']}/approve", data={"csrf_token": csrf(client.get("/admin/").text)})
    assert page.status_code == 409 and "stays suspended" in page.text, page.status_code
    listed = {x["id"]: x for x in client.get("/api/v1/admin/merchants", headers=op).json["items"]}[m["id"]]
    assert listed["status"] == "suspended"
    # Suspending it again is harmless.
    assert client.patch(f"/api/v1/admin/merchants/{m['id']}", json={"status": "suspended"}, headers=op).status_code == 200


def test_erasing_a_merchant_forgets_its_shops_addresses_in_the_geocoders_cache_unless_another_shop_is_there(
        geo_container, nominatim):
    from sqlalchemy import select

    from dealsvc.adapters.db.models import GeocodeCache
    from dealsvc.app import create_app
    from tests.support.api import Api
    from tests.support.geocoding import VIA_TORINO

    def cached() -> list[str]:
        with geo_container.db.read() as s:
            return sorted(s.scalars(select(GeocodeCache.query)))

    def shop(key: str, address: str) -> dict:
        r = api.c.post("/api/v1/shops", json={"name": "Forno", "category": "bakery", "address": address}, headers=api.h(key))
        assert r.status_code == 201, r.json
        return r.json

    api = Api(create_app(container=geo_container).test_client())
    m, other = api.merchant(name="Mario Rossi"), api.merchant()["api_key"]
    buenos_aires = "Corso Buenos Aires 33, Milano"
    shop(m["api_key"], VIA_TORINO)
    shop(m["api_key"], buenos_aires)
    shop(other, "via torino 12,  MILANO")  # the same address, from the cache
    assert len(nominatim.searches()) == 2
    assert cached() == ["corso buenos aires 33, milano", "via torino 12, milano"]

    r = api.c.post(f"/api/v1/admin/merchants/{m['id']}/erase", headers=api.h(ADMIN_TOKEN))
    assert r.status_code == 200, r.json
    # Only Mario's shops were in Corso Buenos Aires: the cache no longer holds it; Via Torino is another shop's too.
    assert cached() == ["via torino 12, milano"]
    shop(other, buenos_aires)
    shop(other, VIA_TORINO)
    assert [s.query["q"] for s in nominatim.searches()] == [VIA_TORINO, buenos_aires, buenos_aires]
