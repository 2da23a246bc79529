"""Smarter alerts, end to end through firebase-admin and the FCM emulator: stock-sized waves
nearest first, favourite shops beyond the resident's radius, places that count only in their
hours, and the reach preview of the waves. The clock is the test's."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from geographiclib.geodesic import Geodesic
from sqlalchemy import select

from dealsvc.adapters.db.models import Fanout
from dealsvc.domain import privacy
from tests.support.api import ADMIN_TOKEN
from tests.support.push import SHOP, Env, env  # noqa: F401  (the fixture)

G = Geodesic.WGS84


def north_of_shop(metres: float) -> tuple[float, float]:
    spot = G.Direct(SHOP[0], SHOP[1], 0.0, metres)
    return spot["lat2"], spot["lon2"]


def shop_and_key(env: Env) -> tuple[str, dict]:
    m = env.api.merchant()
    return m["api_key"], env.api.shop(m["api_key"], lat=SHOP[0], lon=SHOP[1], name="Forno Rossi")


def residents(env: Env, count: int, first_m: float = 100.0, step_m: float = 20.0, **extra) -> list[tuple[str, dict]]:
    """`count` residents north of the shop, each `step_m` farther than the one before, radius
    5 km: token and subscriber, nearest first."""
    made = []
    for i in range(count):
        lat, lon = north_of_shop(first_m + i * step_m)
        token = f"tok-wave-{i:03d}"
        made.append((token, env.api.subscriber(lat=lat, lon=lon, fcm_token=token, radius_m=5000, **extra)))
    return made


def post_offer(env: Env, key: str, shop: dict, quantity: int, hours: float = 3) -> dict:
    return env.api.offer(
        key, shop["id"], quantity=quantity, expires_at=(env.clock.now + timedelta(hours=hours)).isoformat()
    )


def told(env: Env, people: list[tuple[str, dict]], offer_id: str) -> list[str]:
    """The tokens that received an alert about the offer, in the order of `people`."""
    return [
        token for token, _ in people
        if any(m["data"].get("offer_id") == offer_id and m["data"].get("type") == "offer" for m in env.received(token))
    ]


def reserve(env: Env, offer_id: str, sub: dict, quantity: int) -> None:
    r = env.api.c.post(
        f"/api/v1/offers/{offer_id}/reservations", json={"quantity": quantity}, headers=env.api.h(sub["secret"])
    )
    assert r.status_code == 201, r.json


def offer_fanouts(env: Env, offer_id: str) -> list[Fanout]:
    with env.container.db.read() as s:
        rows = s.scalars(select(Fanout).where(Fanout.offer_id == offer_id, Fanout.kind == "offer").order_by(Fanout.seq)).all()
        s.expunge_all()
        return rows


def test_a_ten_item_offer_tells_the_fifty_nearest_first_then_the_next_after_the_interval(env):
    env.api.rules(max_reservation_quantity=6)  # two residents take the whole stock
    key, shop = shop_and_key(env)
    people = residents(env, 120)
    offer = post_offer(env, key, shop, quantity=10)
    env.drain()
    assert told(env, people, offer["id"]) == [token for token, _ in people[:50]]

    # Nothing more before the interval is over.
    env.clock.advance(seconds=599)
    env.drain()
    assert len(told(env, people, offer["id"])) == 50

    # Six items go; the second wave is sized by what is left: 5 × 4 = 20 more, the next nearest.
    reserve(env, offer["id"], people[0][1], 6)
    env.clock.advance(seconds=1)
    env.drain()
    assert told(env, people, offer["id"]) == [token for token, _ in people[:70]]

    # Sold out: the third wave tells nobody, and no fourth is planned.
    reserve(env, offer["id"], people[1][1], 4)
    assert env.api.c.get(f"/api/v1/offers/{offer['id']}").json["status"] == "sold_out"
    env.clock.advance(seconds=600)
    env.drain()
    env.clock.advance(seconds=600)
    env.drain()
    assert told(env, people, offer["id"]) == [token for token, _ in people[:70]]
    waves = offer_fanouts(env, offer["id"])
    assert [(w.seq, w.matched) for w in waves] == [(1, 50), (2, 20), (3, 0)]
    assert all(w.done_at is not None for w in waves)
    # Every resident told got exactly one alert about the offer, and at sell-out the message
    # that replaces it (same collapse key) with "gone".
    for token, _ in people[:70]:
        assert [m["data"]["type"] for m in env.received(token)] == ["offer", "withdrawn"]
        assert {m["android"]["collapse_key"] for m in env.received(token)} == {f"offer-{offer['id']}"}


def test_the_last_wave_tells_whoever_is_left_and_then_the_waves_stop(env):
    key, shop = shop_and_key(env)
    people = residents(env, 60)
    offer = post_offer(env, key, shop, quantity=10)
    env.drain()
    # The shopkeeper sees who was told, wave by wave, and when the next one goes: the counts
    # coarse (domain/privacy.py), exact only in the fan-outs below.
    def shown(count: int) -> int:
        return privacy.coarse(count, env.container.figures.secret, f"shop:{shop['id']}")

    first = env.clock.now
    stats = env.merchant_stats(key, offer["id"])
    assert [(w["wave"], w["residents"]) for w in stats["waves"]] == [(1, shown(50))]
    assert stats["next_wave_at"] == (first + timedelta(seconds=600)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert stats["matched"] == stats["sent"] == shown(50) == 50
    env.clock.advance(seconds=600)
    env.drain()
    assert told(env, people, offer["id"]) == [token for token, _ in people]
    stats = env.merchant_stats(key, offer["id"])
    # Wave 2 told 10: listed only if that shows at all.
    assert [(w["wave"], w["residents"]) for w in stats["waves"]] == [(1, shown(50))] + ([(2, shown(10))] if shown(10) else [])
    # Whether anyone is left to tell is not the merchant's to know: a next wave is due while the offer lasts.
    assert stats["next_wave_at"] == (first + timedelta(seconds=1200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert stats["sent"] == shown(60)
    env.clock.advance(seconds=3600)
    env.drain()
    assert [(w.seq, w.matched) for w in offer_fanouts(env, offer["id"])] == [(1, 50), (2, 10)]


def test_with_waves_off_everyone_in_reach_is_told_at_once_and_the_rules_are_the_operators(env):
    env.api.rules(waves_enabled=False)
    key, shop = shop_and_key(env)
    people = residents(env, 60)
    offer = post_offer(env, key, shop, quantity=2)
    env.drain()
    assert len(told(env, people, offer["id"])) == 60

    # A smaller factor and a shorter interval apply to the next offer at once.
    env.api.rules(waves_enabled=True, wave_factor=3, wave_interval_s=120)
    second = post_offer(env, key, shop, quantity=2)
    env.drain()
    assert told(env, people, second["id"]) == [token for token, _ in people[:6]]
    env.clock.advance(seconds=120)
    env.drain()
    assert told(env, people, second["id"]) == [token for token, _ in people[:12]]


def follow(env: Env, sub: dict, shop_id: str) -> None:
    r = env.api.c.post(f"/api/v1/subscribers/{sub['id']}/favorites", json={"shop_id": shop_id}, headers=env.api.h(sub["secret"]))
    assert r.status_code == 201, r.json


def test_a_follower_beyond_their_radius_is_told_in_the_first_wave(env):
    key, shop = shop_and_key(env)
    people = residents(env, 60)
    # 3 km away with a 500 m radius: out of their own reach, within the operator's 5 km.
    lat, lon = north_of_shop(3000)
    fan = env.api.subscriber(lat=lat, lon=lon, radius_m=500, fcm_token="tok-fan", categories=["dairy"])
    follow(env, fan, shop["id"])
    # 6 km away: beyond max_radius_m, following or not.
    lat, lon = north_of_shop(6000)
    too_far = env.api.subscriber(lat=lat, lon=lon, radius_m=500, fcm_token="tok-too-far")
    follow(env, too_far, shop["id"])
    # A follower of another shop only.
    lat, lon = north_of_shop(2500)
    other = env.api.subscriber(lat=lat, lon=lon, radius_m=500, fcm_token="tok-other-fan")
    follow(env, other, shop_and_key(env)[1]["id"])

    offer = post_offer(env, key, shop, quantity=10)
    env.drain()
    alerts = [m for m in env.received("tok-fan") if m["data"]["offer_id"] == offer["id"]]
    assert len(alerts) == 1
    assert alerts[0]["data"]["distance_m"] == "3000"
    assert "3 km away" in alerts[0]["notification"]["body"]
    assert env.received("tok-too-far") == [] and env.received("tok-other-fan") == []
    # The follower takes one of the wave's 50 places; the 49 nearest others fill the rest.
    assert told(env, people, offer["id"]) == [token for token, _ in people[:49]]

    # Unfollowed, the next offer no longer reaches them.
    r = env.api.c.delete(f"/api/v1/subscribers/{fan['id']}/favorites/{shop['id']}", headers=env.api.h(fan["secret"]))
    assert r.status_code == 204
    second = post_offer(env, key, shop, quantity=10)
    env.drain()
    assert [m for m in env.received("tok-fan") if m["data"]["offer_id"] == second["id"]] == []


def at_rome(env: Env, weekday_date: str, hhmm: str) -> None:
    """Set the test's clock to a wall-clock time in Rome."""
    local = datetime.fromisoformat(f"{weekday_date}T{hhmm}:00+01:00")
    env.clock.now = local.astimezone(timezone.utc)


def test_a_work_place_counts_only_on_its_days_and_within_its_hours(env):
    key, shop = shop_and_key(env)
    home = north_of_shop(9000)  # far from the shop
    work = north_of_shop(300)
    sub = env.api.subscriber(
        lat=home[0], lon=home[1], radius_m=1000, fcm_token="tok-commuter", timezone="Europe/Rome",
        places=[{"label": "work", "lat": work[0], "lon": work[1], "radius_m": 800,
                 "days": ["mon", "tue", "wed", "thu", "fri"], "hours": {"start": "11:00", "end": "15:00"}}],
    )
    assert sub["places"][0]["label"] == "work"

    def alerts(offer):
        return [m for m in env.received("tok-commuter") if m["data"]["offer_id"] == offer["id"]]

    at_rome(env, "2026-11-23", "12:30")  # a Monday, within the hours
    inside = post_offer(env, key, shop, quantity=3)
    env.drain()
    assert len(alerts(inside)) == 1
    assert alerts(inside)[0]["data"]["distance_m"] == "300"  # from work, not from home

    at_rome(env, "2026-11-23", "16:00")  # the same Monday, after the hours
    after_hours = post_offer(env, key, shop, quantity=3)
    env.drain()
    assert alerts(after_hours) == []

    at_rome(env, "2026-11-28", "12:30")  # a Saturday
    weekend = post_offer(env, key, shop, quantity=3)
    env.drain()
    assert alerts(weekend) == []

    # The reach preview counts the place the same way.
    env.clock.now = datetime.fromisoformat("2026-11-23T12:30:00+01:00").astimezone(timezone.utc)
    assert reach(env, quantity=1)["subscribers"] == 1
    at_rome(env, "2026-11-23", "16:00")
    assert reach(env, quantity=1)["subscribers"] == 0


def test_one_push_per_offer_whichever_places_match(env):
    key, shop = shop_and_key(env)
    home, work = north_of_shop(400), north_of_shop(150)
    env.api.subscriber(
        lat=home[0], lon=home[1], radius_m=1000, fcm_token="tok-two-places",
        places=[{"label": "work", "lat": work[0], "lon": work[1], "radius_m": 1000}],
    )
    offer = post_offer(env, key, shop, quantity=3)
    env.drain()
    alerts = [m for m in env.received("tok-two-places") if m["data"]["offer_id"] == offer["id"]]
    assert len(alerts) == 1
    assert alerts[0]["data"]["distance_m"] == "150"  # the nearer place


def reach(env: Env, **query) -> dict:
    q = {"lat": SHOP[0], "lon": SHOP[1], **query}
    r = env.api.c.get("/api/v1/admin/reach", query_string=q, headers=env.api.h(ADMIN_TOKEN))
    assert r.status_code == 200, r.json
    return r.json


def test_the_reach_preview_shows_the_waves(env):
    residents(env, 120)
    answer = reach(env, quantity=10)
    assert answer["subscribers"] == 120
    assert answer["waves"] == [
        {"wave": 1, "after_s": 0, "residents": 50},
        {"wave": 2, "after_s": 600, "residents": 50},
        {"wave": 3, "after_s": 1200, "residents": 20},
    ]
    assert "waves" not in reach(env)  # only asked for with a quantity
    env.api.rules(waves_enabled=False)
    assert reach(env, quantity=10)["waves"] == [{"wave": 1, "after_s": 0, "residents": 120}]
    bad = env.api.c.get("/api/v1/admin/reach", query_string={"lat": SHOP[0], "lon": SHOP[1], "quantity": 0},
                        headers=env.api.h(ADMIN_TOKEN))
    assert bad.status_code == 400 and "quantity" in bad.json["errors"]


def test_an_offer_that_sells_again_goes_on_with_a_wave_for_what_came_back(env):
    env.api.rules(max_reservation_quantity=6)  # three residents take the whole stock
    key, shop = shop_and_key(env)
    people = residents(env, 80)
    offer = post_offer(env, key, shop, quantity=10)
    env.drain()
    reserve(env, offer["id"], people[0][1], 6)
    hold = env.api.c.post(f"/api/v1/offers/{offer['id']}/reservations", json={"quantity": 4},
                          headers=env.api.h(people[1][1]["secret"]))
    assert hold.status_code == 201
    env.clock.advance(seconds=600)
    env.drain()
    assert len(told(env, people, offer["id"])) == 50  # the second wave told nobody: sold out

    # Four items come back (a hold let go): a wave at once, 5 × 4, the next nearest.
    released = env.api.c.delete(f"/api/v1/reservations/{hold.json['id']}", headers=env.api.h(people[1][1]["secret"]))
    assert released.status_code in (200, 204), released.json
    env.drain()
    assert told(env, people, offer["id"]) == [token for token, _ in people[:70]]

    # Sold out again, then the shopkeeper adds two: the waves go on, at the interval (one is due).
    reserve(env, offer["id"], people[2][1], 4)
    r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"quantity": 12}, headers=env.api.h(key))
    assert r.status_code == 200 and (r.json["status"], r.json["quantity_left"]) == ("active", 2), r.json
    env.drain()
    assert len(told(env, people, offer["id"])) == 70
    env.clock.advance(seconds=600)
    env.drain()
    assert told(env, people, offer["id"]) == [token for token, _ in people]
    # Nobody was told twice.
    for token, _ in people:
        assert [m["data"]["type"] for m in env.received(token)].count("offer") == 1


def test_alerts_held_back_when_the_offer_sold_out_go_out_when_it_sells_again(env):
    key, shop = shop_and_key(env)
    # Quiet hours on the resident's clock: Milan's, found from their place.
    now = env.clock.now.astimezone(ZoneInfo("Europe/Rome"))
    quiet = {"start": (now - timedelta(minutes=5)).strftime("%H:%M"), "end": (now + timedelta(minutes=30)).strftime("%H:%M")}
    # The nearest resident is in quiet hours: their alert waits for the end of them.
    lat, lon = north_of_shop(50)
    env.api.subscriber(lat=lat, lon=lon, radius_m=5000, fcm_token="tok-sleeper", quiet_hours=quiet)
    people = residents(env, 20)
    offer = post_offer(env, key, shop, quantity=2)
    env.drain()
    assert env.received("tok-sleeper") == [] and len(told(env, people, offer["id"])) == 9
    hold = env.api.c.post(f"/api/v1/offers/{offer['id']}/reservations", json={"quantity": 2},
                          headers=env.api.h(people[0][1]["secret"]))
    assert hold.status_code == 201  # sold out: the waiting alert is dropped
    env.api.c.delete(f"/api/v1/reservations/{hold.json['id']}", headers=env.api.h(people[0][1]["secret"]))
    env.drain()
    env.clock.advance(minutes=31)  # quiet hours over
    env.drain()
    alerts = [m for m in env.received("tok-sleeper") if m["data"]["type"] == "offer"]
    # The nearest resident is not passed over for farther ones.
    assert [m["data"]["offer_id"] for m in alerts] == [offer["id"]]


def test_stock_back_while_a_sold_out_wave_runs_keeps_the_waves_going(env, monkeypatch):
    key, shop = shop_and_key(env)
    people = residents(env, 40)
    offer = post_offer(env, key, shop, quantity=2)
    env.drain()
    assert len(told(env, people, offer["id"])) == 10
    hold = env.api.c.post(f"/api/v1/offers/{offer['id']}/reservations", json={"quantity": 2},
                          headers=env.api.h(people[0][1]["secret"]))
    assert hold.status_code == 201
    env.drain()
    env.clock.advance(seconds=600)

    # The second wave begins while the offer is sold out; the hold is let go before it ends.
    db = env.container.db
    real_write = db.write
    state = {"writes": 0, "inside": False}

    def write():
        if not state["inside"]:
            state["writes"] += 1
            if state["writes"] == 2:
                state["inside"] = True
                r = env.api.c.delete(f"/api/v1/reservations/{hold.json['id']}", headers=env.api.h(people[0][1]["secret"]))
                assert r.status_code in (200, 204)
                state["inside"] = False
        return real_write()

    monkeypatch.setattr(db, "write", write)
    assert env.container.dispatcher.expand_one()
    monkeypatch.setattr(db, "write", real_write)
    env.drain()
    assert told(env, people, offer["id"]) == [token for token, _ in people[:20]]


def test_a_price_drop_shows_the_distance_of_the_place_the_alert_came_from(env):
    key, shop = shop_and_key(env)
    home, work = north_of_shop(8000), north_of_shop(300)
    env.api.subscriber(
        lat=home[0], lon=home[1], radius_m=1000, fcm_token="tok-worker", price_drops=True,
        places=[{"label": "work", "lat": work[0], "lon": work[1], "radius_m": 800}],
    )
    offer = env.api.offer(
        key, shop["id"], quantity=3, expires_at=(env.clock.now + timedelta(hours=3)).isoformat(),
        price_steps=[{"at": (env.clock.now + timedelta(hours=1)).isoformat(), "discount_pct": 60}],
    )
    env.drain()
    env.clock.advance(hours=1, seconds=1)
    env.container.price_steps.apply_due()
    env.drain()
    alert, drop = env.received("tok-worker")
    assert (alert["data"]["type"], drop["data"]["type"]) == ("offer", "price_drop")
    assert alert["data"]["offer_id"] == drop["data"]["offer_id"] == offer["id"]
    assert alert["data"]["distance_m"] == drop["data"]["distance_m"] == "300"
    assert "300 m away" in drop["notification"]["body"]
