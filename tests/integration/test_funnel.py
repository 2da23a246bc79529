"""What alerts earned, on SQLite and PostgreSQL: every push names its notification, the resident it
was sent to reports opening it (once is kept, anyone else finds nothing), and a shop's funnel (told
-> opened -> reserved -> collected) per offer, distance ring and posting hour, as its merchant sees
it (every figure coarse, domain/privacy.py), in the API and as the CSV of the shop's page."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dealsvc.adapters.db.models import Notification
from dealsvc.domain import funnel, privacy
from tests.support.api import ADMIN_TOKEN
from tests.support.push import SHOP, Env, merchant_with_shop, post_offer, env  # noqa: F401, F811 (fixtures among them)

M_PER_DEG_LAT = 111_130.0  # near 45° N: enough to put a resident in the middle of a ring


def _north(metres: float) -> tuple[float, float]:
    return SHOP[0] + metres / M_PER_DEG_LAT, SHOP[1]


def _residents(env: Env, n: int, metres: float, radius_m: int = 1000) -> list[dict]:
    found = []
    for i in range(n):
        lat, lon = _north(metres + i)  # a metre apart, all in the ring
        token = f"tok-{int(metres)}-{i}-{env.clock.now.timestamp():.0f}"
        found.append({**env.api.subscriber(lat=lat, lon=lon, radius_m=radius_m, fcm_token=token), "token": token})
    return found


def _alert(env: Env, resident: dict, offer_id: str) -> dict:
    [message] = [m for m in env.received(resident["token"]) if m["data"]["offer_id"] == offer_id and m["data"]["type"] == "offer"]
    return message["data"]


def _opened(env: Env, resident: dict, notification_id: str):
    return env.api.c.post(f"/api/v1/notifications/{notification_id}/opened", headers=env.api.h(resident["secret"]))


def _reserve(env: Env, resident: dict, offer_id: str) -> dict:
    r = env.api.c.post(f"/api/v1/offers/{offer_id}/reservations", json={"quantity": 1}, headers=env.api.h(resident["secret"]))
    assert r.status_code == 201, r.json
    return r.json


def _collect(env: Env, key: str, hold: dict) -> None:
    r = env.api.c.post(f"/api/v1/reservations/{hold['id']}/collect", json={"code": hold["code"]}, headers=env.api.h(key))
    assert r.status_code == 200, r.json


def _opened_at(env: Env, notification_id: str):
    with env.container.db.read() as s:
        return s.scalar(select(Notification.opened_at).where(Notification.id == int(notification_id)))


def test_a_push_names_its_notification_and_only_its_resident_may_say_it_was_opened(env):
    key, shop = merchant_with_shop(env)
    [me, neighbour] = _residents(env, 2, 150)
    offer = post_offer(env, key, shop, quantity=5)
    env.drain()
    data = _alert(env, me, offer["id"])
    nid = data["notification_id"]
    with env.container.db.read() as s:
        row = s.scalar(select(Notification).where(Notification.id == int(nid)))
        assert (row.offer_id, row.kind, row.opened_at) == (offer["id"], "offer", None)

    # Anyone else: another resident, a made-up or malformed id, the shop, the operator, nobody.
    assert _opened(env, neighbour, nid).status_code == 404
    assert _opened(env, neighbour, _alert(env, neighbour, offer["id"])["notification_id"]).status_code == 204
    for bad in ("999999", "0", "-1", "abc", "1e3", "99999999999999999999", "１"):
        r = _opened(env, me, bad)
        assert r.status_code == 404 and r.mimetype == "application/problem+json", (bad, r.status_code)
    assert env.api.c.post(f"/api/v1/notifications/{nid}/opened", headers=env.api.h(key)).status_code == 403
    assert env.api.c.post(f"/api/v1/notifications/{nid}/opened", headers=env.api.h(ADMIN_TOKEN)).status_code == 403
    assert env.api.c.post(f"/api/v1/notifications/{nid}/opened").status_code == 401
    assert _opened_at(env, nid) is None

    # The resident it was sent to: kept at the first report, the same after any later one.
    r = _opened(env, me, nid)
    assert r.status_code == 204 and r.data == b""
    first = _opened_at(env, nid)
    assert first == env.clock.now
    env.clock.advance(minutes=5)
    assert _opened(env, me, nid).status_code == 204
    assert _opened_at(env, nid) == first

    # The offer's stats count residents who opened, coarse like every count of residents.
    assert env.container.offers.counts(offer["id"])["opened"] == 2
    stats = env.merchant_stats(key, offer["id"])
    assert stats["opened"] == privacy.coarse(2, env.container.funnel.secret, f"shop:{shop['id']}") == 0

    # A withdrawal names its own notification too.
    r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=env.api.h(key))
    assert r.status_code == 200
    env.drain()
    [gone] = [m["data"] for m in env.received(me["token"]) if m["data"]["type"] == "withdrawn"]
    assert gone["notification_id"] != nid and _opened(env, me, gone["notification_id"]).status_code == 204



def test_openapi_describes_opened_funnel_and_audit(client):
    doc = client.get("/api/v1/openapi.json").json
    opened = doc["paths"]["/api/v1/notifications/{notification_id}/opened"]["post"]
    assert {"204", "401", "403", "404"} <= set(opened["responses"])
    assert "/api/v1/shops/{shop_id}/funnel" in doc["paths"] and "/api/v1/admin/audit" in doc["paths"]
    stats = doc["components"]["schemas"]["OfferStats"]
    assert "opened" in stats["properties"] and "opened" in stats["required"]


def test_the_funnel_per_offer_ring_and_posting_hour(env):
    secret = env.container.funnel.secret
    key, shop = merchant_with_shop(env)
    zone = ZoneInfo(shop["timezone"])
    near = _residents(env, 30, 100)  # 0–250 m
    middle = _residents(env, 24, 700)  # 500 m–1 km
    far = _residents(env, 3, 1500, radius_m=2000)  # 1–2 km
    bread = post_offer(env, key, shop, title="Pane", quantity=40)
    env.drain()
    # Near: 25 open (3 twice), 12 of them reserve, 4 collect; and one who never opened reserves.
    for resident in near[:25]:
        assert _opened(env, resident, _alert(env, resident, bread["id"])["notification_id"]).status_code == 204
    for resident in near[:3]:
        assert _opened(env, resident, _alert(env, resident, bread["id"])["notification_id"]).status_code == 204
    holds = [_reserve(env, resident, bread["id"]) for resident in near[:12]]
    for hold in holds[:4]:
        _collect(env, key, hold)
    _reserve(env, near[29], bread["id"])
    # Middle: 21 open, 2 reserve. Far: told only.
    for resident in middle[:21]:
        assert _opened(env, resident, _alert(env, resident, bread["id"])["notification_id"]).status_code == 204
    for resident in middle[:2]:
        _reserve(env, resident, bread["id"])
    # A resident who was never told reserves: not something an alert earned.
    stranger = env.api.subscriber(lat=45.60, lon=9.30, fcm_token="tok-stranger")
    _reserve(env, stranger, bread["id"])

    # Three hours later, a second offer, told to the near residents only (a smaller radius).
    env.clock.advance(hours=3)
    for resident in middle + far:
        env.api.c.delete(f"/api/v1/subscribers/{resident['id']}", headers=env.api.h(resident["secret"]))
    milk = post_offer(env, key, shop, title="Latte", quantity=10)
    env.drain()
    for resident in near[:20]:
        assert _opened(env, resident, _alert(env, resident, milk["id"])["notification_id"]).status_code == 204

    offers, exact = env.container.funnel.exact(shop["id"])
    assert [o["id"] for o in offers] == [milk["id"], bread["id"]]
    assert exact.offers[bread["id"]].as_dict() == {"told": 57, "opened": 46, "reserved": 15, "collected": 4}
    assert exact.offers[milk["id"]].as_dict() == {"told": 30, "opened": 20, "reserved": 0, "collected": 0}
    assert {k: t.as_dict() for k, t in exact.rings.items()} == {
        "0-250": {"told": 60, "opened": 45, "reserved": 13, "collected": 4},
        "250-500": {"told": 0, "opened": 0, "reserved": 0, "collected": 0},
        "500-1000": {"told": 24, "opened": 21, "reserved": 2, "collected": 0},
        "1000-2000": {"told": 3, "opened": 0, "reserved": 0, "collected": 0},
        "2000+": {"told": 0, "opened": 0, "reserved": 0, "collected": 0},
    }
    bread_hour = funnel.posting_hour(env.clock.now - timedelta(hours=3), shop["timezone"])
    milk_hour = (env.clock.now.astimezone(zone)).hour
    assert {h: t.as_dict() for h, t in exact.hours.items()} == {
        bread_hour: exact.offers[bread["id"]].as_dict(), milk_hour: exact.offers[milk["id"]].as_dict()}

    # What the merchant reads: every figure coarse under the shop's key, small ones hidden.
    r = env.api.c.get(f"/api/v1/shops/{shop['id']}/funnel", headers=env.api.h(key))
    assert r.status_code == 200, r.json
    seen = r.json

    def coarse(counts: dict) -> dict:
        return {stage: privacy.coarse(counts[stage], secret, f"shop:{shop['id']}") for stage in funnel.STAGES}

    assert [{k: o[k] for k in ("id", "hour", *funnel.STAGES)} for o in seen["offers"]] == [
        {"id": o["id"], "hour": o["hour"], **coarse(exact.offers[o["id"]].as_dict())} for o in offers]
    assert [(ring["ring"], ring["from_m"], ring["to_m"]) for ring in seen["rings"]] == [
        ("0-250", 0, 250), ("250-500", 250, 500), ("500-1000", 500, 1000), ("1000-2000", 1000, 2000), ("2000+", 2000, None)]
    for ring in seen["rings"]:
        assert {s: ring[s] for s in funnel.STAGES} == coarse(exact.rings[ring["ring"]].as_dict())
    near_ring = seen["rings"][0]
    assert near_ring["told"] >= 50 and near_ring["opened"] >= 40 and near_ring["collected"] == 0  # 4: hidden
    assert seen["rings"][3]["told"] == 0  # three residents: hidden
    assert [(h["hour"], h["offers"]) for h in seen["hours"]] == sorted([(bread_hour, 1), (milk_hour, 1)])
    # The offer's stats agree with its row of the funnel.
    assert env.merchant_stats(key, bread["id"])["sent"] == seen["offers"][1]["told"]

    # Not the merchant's shop: nothing there.
    other = env.api.merchant()["api_key"]
    assert env.api.c.get(f"/api/v1/shops/{shop['id']}/funnel", headers=env.api.h(other)).status_code == 404
    assert env.api.c.get(f"/api/v1/shops/{shop['id']}/funnel", headers=env.api.h(near[0]["secret"])).status_code == 403

    # The shop's page offers the same figures as a CSV file, one row an offer.
    page = env.api.c.application.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get("/shop/").text).group(1)
    assert page.post("/shop/signin", data={"secret": key, "csrf_token": token}).status_code == 303
    html = page.get("/shop/").text
    assert 'id="funnel-offers"' in html and "/shop/funnel.csv?shop=" in html
    r = page.get(f"/shop/funnel.csv?shop={shop['id']}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert rows[0] == ["Offer", "Title", "Posted at", "Time zone", "Status", "Quantity", "Told", "Opened", "Reserved", "Collected"]
    few = f"<{privacy.FEW}"
    by_id = {row[0]: row for row in rows[1:]}
    assert len(rows) == 3 and set(by_id) == {bread["id"], milk["id"]}
    for o in seen["offers"]:
        row = by_id[o["id"]]
        assert row[1] == o["title"] and row[3] == shop["timezone"] and row[5] == str(o["quantity"])
        assert row[2] == o_created(o, zone)
        assert row[6:] == [str(o[s]) if o[s] else few for s in funnel.STAGES]
    assert by_id[bread["id"]][9] == few
    # Another merchant's shop through the page: not found.
    assert page.get("/shop/funnel.csv?shop=shp_000000000000000000000000").status_code == 404


def o_created(offer: dict, zone: ZoneInfo) -> str:
    from datetime import datetime

    return datetime.fromisoformat(offer["created_at"].replace("Z", "+00:00")).astimezone(zone).replace(microsecond=0).isoformat()


def test_a_title_a_spreadsheet_would_run_is_written_as_text():
    from dealsvc.web.funnel import _cell

    assert _cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")" and _cell("-5 %") == "'-5 %" and _cell("Pane") == "Pane"


def test_every_distance_falls_in_one_ring(env):
    key, shop = merchant_with_shop(env)
    distances = [0, 249.9, 250, 499.99, 500, 999.9, 1000, 1999.9, 2000, 50_000]
    residents = _residents(env, len(distances), 100)
    offer = post_offer(env, key, shop, quantity=5)
    env.drain()
    with env.container.db.write() as s:
        for resident, distance in zip(residents, distances):
            nid = int(_alert(env, resident, offer["id"])["notification_id"])
            s.get(Notification, nid).distance_m = distance
    _, exact = env.container.funnel.exact(shop["id"])
    assert [r.key for r in funnel.RINGS] == ["0-250", "250-500", "500-1000", "1000-2000", "2000+"]
    assert {k: t.told for k, t in exact.rings.items()} == {"0-250": 2, "250-500": 2, "500-1000": 2, "1000-2000": 2, "2000+": 2}
