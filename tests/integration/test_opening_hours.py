"""Shops' opening hours (OpenStreetMap's opening_hours syntax, on the shop's clock): an offer
past closing time is cut to it unless the shopkeeper insists, residents are not told of an offer
while its shop is closed and are told when it opens, the push says until when the shop is open,
and hours that do not parse are a clear 400. Through the API, the dispatcher, firebase-admin and
the FCM emulator; the clock is the test's."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from dealsvc.domain import hours, waves
from tests.support.push import SHOP, Env, env  # noqa: F401, F811 (fixtures among them)

HOURS = "Mo-Sa 07:00-19:30; Su off"
ROME = ZoneInfo("Europe/Rome")


def rome(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ROME)


def utc(text: str) -> str:
    return rome(text).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(env: Env, local: str) -> None:
    env.clock.now = rome(local).astimezone(timezone.utc)


def bakery(env: Env, opening_hours: str | None = HOURS) -> tuple[str, dict]:
    key = env.api.merchant()["api_key"]
    return key, env.api.shop(key, lat=SHOP[0], lon=SHOP[1], name="Forno Rossi", opening_hours=opening_hours)


def post(env: Env, key: str, shop: dict, until_local: str, **extra):
    body = env.api.offer_body(shop["id"], expires_at=rome(until_local).isoformat(), **extra)
    return env.api.c.post("/api/v1/offers", json=body, headers=env.api.h(key))


def new_hours(env: Env, key: str, shop: dict, opening_hours: str) -> dict:
    """The shopkeeper changes the shop's hours through the API; the shop as answered."""
    r = env.api.c.patch(f"/api/v1/shops/{shop['id']}", json={"opening_hours": opening_hours}, headers=env.api.h(key))
    assert r.status_code == 200, r.json
    return r.json


def alerts(env: Env, token: str, offer_id: str) -> list[dict]:
    return [m for m in env.received(token) if m["data"].get("offer_id") == offer_id and m["data"]["type"] == "offer"]


# --- the rules, on their own -------------------------------------------------------------


def test_the_rules_read_the_hours_on_the_shops_clock():
    saturday_7pm = rome("2026-12-05T19:00")
    assert hours.open_until(HOURS, "Europe/Rome", saturday_7pm) == rome("2026-12-05T19:30")
    cut = hours.cap_expiry(HOURS, "Europe/Rome", saturday_7pm, rome("2026-12-05T21:00"))
    assert (cut.expires_at, cut.capped) == (rome("2026-12-05T19:30"), True)
    kept = hours.cap_expiry(HOURS, "Europe/Rome", saturday_7pm, rome("2026-12-05T21:00"), keep=True)
    assert (kept.expires_at, kept.capped) == (rome("2026-12-05T21:00"), False)
    # The same instant is 18:00 in London, and so is a London shop's clock: open until 19:30 there.
    assert hours.open_until(HOURS, "Europe/London", saturday_7pm) == datetime(2026, 12, 5, 19, 30, tzinfo=ZoneInfo("Europe/London"))
    # Sunday: closed; a wave waits for Monday's opening, or for the offer's end if that comes first.
    sunday = rome("2026-12-06T10:00")
    assert waves.held_until(HOURS, "Europe/Rome", sunday, rome("2026-12-07T12:00")) == rome("2026-12-07T07:00")
    assert waves.held_until(HOURS, "Europe/Rome", sunday, rome("2026-12-06T12:00")) == rome("2026-12-06T12:00")
    assert waves.held_until(HOURS, "Europe/Rome", saturday_7pm, rome("2026-12-05T19:30")) is None
    # No hours: unknown, never held back nor cut.
    assert waves.held_until(None, "Europe/Rome", sunday, rome("2026-12-07T12:00")) is None
    assert not hours.cap_expiry(None, "Europe/Rome", saturday_7pm, rome("2026-12-06T21:00")).capped
    # PH: the public holidays of the shop's country, from its zone (8 December: Italy's, not France's).
    holidays = "Mo-Sa 07:00-19:30; PH off"
    assert hours.is_closed(holidays, "Europe/Rome", rome("2026-12-08T10:00"))
    assert not hours.is_closed(holidays, "Europe/Paris", rome("2026-12-08T10:00"))
    assert not hours.is_closed(holidays, "Europe/Rome", rome("2026-12-09T10:00"))
    # Hours stored that no longer parse count as unknown too, rather than stopping the dispatcher.
    assert waves.held_until("Mo-Sa 7-19", "Europe/Rome", sunday, rome("2026-12-07T12:00")) is None


# --- the API -------------------------------------------------------------------------------


def test_hours_that_do_not_parse_are_a_400_keyed_opening_hours_in_the_readers_language(env):
    key = env.api.merchant()["api_key"]
    body = {"name": "Forno Rossi", "category": "bakery", "lat": SHOP[0], "lon": SHOP[1], "opening_hours": "Mo-Sa 7-19"}
    r = env.api.c.post("/api/v1/shops", json=body, headers=env.api.h(key))
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert r.json["errors"]["opening_hours"] == [
        "is not in OpenStreetMap's opening_hours format (like “Mo-Sa 07:00-19:30; Su off”): look near character 7."
    ]
    r = env.api.c.post("/api/v1/shops", json=body, headers={**env.api.h(key), "Accept-Language": "it"})
    assert r.status_code == 400
    assert r.json["errors"]["opening_hours"] == [
        "non è nel formato opening_hours di OpenStreetMap (come “Mo-Sa 07:00-19:30; Su off”): controlla vicino al carattere 7."
    ]

    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
    assert shop["opening_hours"] is None and shop["open_now"] is None
    r = env.api.c.patch(f"/api/v1/shops/{shop['id']}", json={"opening_hours": "every day"}, headers=env.api.h(key))
    assert r.status_code == 400 and list(r.json["errors"]) == ["opening_hours"]
    r = env.api.c.patch(f"/api/v1/shops/{shop['id']}", json={"opening_hours": "x" * 256}, headers=env.api.h(key))
    assert r.status_code == 400 and list(r.json["errors"]) == ["opening_hours"]

    at(env, "2026-12-05T19:00")  # a Saturday
    r = env.api.c.patch(f"/api/v1/shops/{shop['id']}", json={"opening_hours": HOURS}, headers=env.api.h(key))
    assert r.status_code == 200, r.json
    assert (r.json["opening_hours"], r.json["open_now"], r.json["open_until"], r.json["opens_at"]) == (
        HOURS, True, utc("2026-12-05T19:30"), None)
    seen = env.api.c.get(f"/api/v1/shops/{shop['id']}").json
    assert seen["opening_hours"] == HOURS and seen["open_until"] == utc("2026-12-05T19:30")
    # Another merchant's shop is not theirs to change.
    stranger = env.api.merchant()["api_key"]
    r = env.api.c.patch(f"/api/v1/shops/{shop['id']}", json={"opening_hours": None}, headers=env.api.h(stranger))
    assert r.status_code == 404
    # null: no hours again.
    r = env.api.c.patch(f"/api/v1/shops/{shop['id']}", json={"opening_hours": None}, headers=env.api.h(key))
    assert r.status_code == 200 and r.json["opening_hours"] is None and r.json["open_now"] is None


def test_an_offer_posted_at_19_00_for_a_shop_closing_at_19_30_is_cut_to_19_30_unless_kept(env):
    key, shop = bakery(env)
    at(env, "2026-12-05T19:00")
    r = post(env, key, shop, "2026-12-05T21:00")
    assert r.status_code == 201, r.json
    assert (r.json["expires_at"], r.json["capped_to_closing"]) == (utc("2026-12-05T19:30"), True)
    assert env.api.c.get(f"/api/v1/offers/{r.json['id']}").json["expires_at"] == utc("2026-12-05T19:30")

    kept = post(env, key, shop, "2026-12-05T21:00", beyond_closing=True)
    assert kept.status_code == 201, kept.json
    assert (kept.json["expires_at"], kept.json["capped_to_closing"]) == (utc("2026-12-05T21:00"), False)

    within = post(env, key, shop, "2026-12-05T19:20")
    assert (within.json["expires_at"], within.json["capped_to_closing"]) == (utc("2026-12-05T19:20"), False)

    # The deals listing says so too.
    deal = env.api.c.get("/api/v1/deals", query_string={"lat": SHOP[0], "lon": SHOP[1]}).json["items"][0]
    assert (deal["shop"]["open_now"], deal["shop"]["open_until"]) == (True, utc("2026-12-05T19:30"))

    # Five minutes before closing, cut to closing is shorter than the operator's minimum (10 min).
    at(env, "2026-12-05T19:25")
    r = post(env, key, shop, "2026-12-05T21:00")
    assert r.status_code == 422, r.json
    assert r.json["errors"]["expires_at"] == [
        "the shop closes at 7:30\u202fPM, too soon for an offer; to post it anyway, keep your time (beyond_closing)."
    ]
    r = env.api.c.post("/api/v1/offers", json=env.api.offer_body(shop["id"], expires_at=rome("2026-12-05T21:00").isoformat()),
                       headers={**env.api.h(key), "Accept-Language": "fr"})
    assert r.json["errors"]["expires_at"][0].startswith("la boutique ferme à 19:30, trop tôt pour une offre")
    assert post(env, key, shop, "2026-12-05T21:00", beyond_closing=True).status_code == 201
    r = post(env, key, shop, "2026-12-05T21:00", beyond_closing="yes")
    assert r.status_code == 400 and list(r.json["errors"]) == ["beyond_closing"]


def test_a_resident_is_not_told_while_the_shop_is_closed_and_is_told_when_it_opens(env):
    key, shop = bakery(env)
    env.api.subscriber(fcm_token="tok-near", lat=SHOP[0] + 0.001, lon=SHOP[1], radius_m=1000)
    at(env, "2026-12-06T10:00")  # Sunday: closed all day
    r = post(env, key, shop, "2026-12-07T12:00")  # until Monday noon
    assert r.status_code == 201 and r.json["capped_to_closing"] is False
    offer = r.json
    too_early = post(env, key, shop, "2026-12-06T18:00").json  # over before the shop opens
    env.drain()
    assert alerts(env, "tok-near", offer["id"]) == []
    assert env.api.c.get(f"/api/v1/shops/{shop['id']}").json["opens_at"] == utc("2026-12-07T07:00")

    at(env, "2026-12-07T06:59")
    env.drain()
    assert alerts(env, "tok-near", offer["id"]) == []

    at(env, "2026-12-07T07:00")  # Monday, opening time
    env.drain()
    [alert] = alerts(env, "tok-near", offer["id"])
    assert alert["data"]["expires_at"] == utc("2026-12-07T12:00")
    assert alerts(env, "tok-near", too_early["id"]) == []

    # An offer posted while the shop is open goes out at once.
    at(env, "2026-12-07T08:00")
    open_now = post(env, key, shop, "2026-12-07T10:00").json
    env.drain()
    assert len(alerts(env, "tok-near", open_now["id"])) == 1


def test_the_push_says_until_when_the_shop_is_open_in_it_fr_en(env):
    key, shop = bakery(env)
    for locale in ("it", "fr", "en"):
        env.api.subscriber(fcm_token=f"tok-{locale}", lat=SHOP[0] + 0.001, lon=SHOP[1], radius_m=1000, locale=locale)
    at(env, "2026-12-05T19:00")
    offer = post(env, key, shop, "2026-12-05T21:00").json  # cut to 19:30
    env.drain()
    bodies = {locale: alerts(env, f"tok-{locale}", offer["id"])[0]["notification"]["body"] for locale in ("it", "fr", "en")}
    assert bodies == {
        "it": "2,00\xa0€ invece di 4,00\xa0€, a 110 m, aperto fino alle 19:30",
        "fr": "2,00\xa0€ au lieu de 4,00\xa0€, à 110\u202fm, ouvert jusqu’à 19:30",
        "en": "€2.00 instead of €4.00, 110 m away, open until 7:30\u202fPM",
    }

    # Closing after the offer ends: the offer's own end is what counts.
    at(env, "2026-12-05T17:00")
    early = post(env, key, shop, "2026-12-05T18:00").json
    env.drain()
    assert alerts(env, "tok-en", early["id"])[0]["notification"]["body"] == "€2.00 instead of €4.00, 110 m away, until 6:00\u202fPM"


def price_drops(env: Env, token: str, offer_id: str) -> list[dict]:
    return [m for m in env.received(token) if m["data"].get("offer_id") == offer_id and m["data"]["type"] == "price_drop"]


def test_a_price_drop_while_the_shop_is_closed_waits_for_it_to_open_and_tells_only_the_latest_price(env):
    key, shop = bakery(env)
    env.api.subscriber(fcm_token="tok-near", lat=SHOP[0] + 0.001, lon=SHOP[1], radius_m=1000, price_drops=True)
    at(env, "2026-12-05T18:00")  # Saturday, open until 19:30
    steps = [{"at": rome(t).isoformat(), "discount_pct": pct} for t, pct in
             (("2026-12-05T20:00", 50), ("2026-12-05T21:00", 60))]
    offer = post(env, key, shop, "2026-12-07T12:00", beyond_closing=True, discount_pct=40, price_steps=steps).json
    env.drain()
    assert len(alerts(env, "tok-near", offer["id"])) == 1

    for local in ("2026-12-05T20:00", "2026-12-05T21:00", "2026-12-06T12:00"):  # closed: the prices fall, nobody is told
        at(env, local)
        env.container.price_steps.apply_due()
        env.drain()
    assert env.api.c.get(f"/api/v1/offers/{offer['id']}").json["price_cents"] == 160
    assert price_drops(env, "tok-near", offer["id"]) == []

    at(env, "2026-12-07T07:00")  # Monday, opening time: one push, with the price of now
    env.drain()
    [drop] = price_drops(env, "tok-near", offer["id"])
    assert drop["data"]["price_cents"] == "160"


def test_an_alert_deferred_by_quiet_hours_past_closing_time_waits_for_the_shop_to_open(env):
    key, shop = bakery(env)
    quiet = {"start": "18:30", "end": "20:00"}
    env.api.subscriber(fcm_token="tok-quiet", lat=SHOP[0] + 0.001, lon=SHOP[1], radius_m=1000, quiet_hours=quiet,
                       timezone="Europe/Rome")
    env.api.subscriber(fcm_token="tok-awake", lat=SHOP[0] + 0.002, lon=SHOP[1], radius_m=1000)
    at(env, "2026-12-05T19:00")  # Saturday, open until 19:30
    offer = post(env, key, shop, "2026-12-07T12:00", beyond_closing=True).json
    env.drain()
    assert len(alerts(env, "tok-awake", offer["id"])) == 1
    assert alerts(env, "tok-quiet", offer["id"]) == []

    at(env, "2026-12-05T20:00")  # quiet hours over, but the shop closed at 19:30
    env.drain()
    assert alerts(env, "tok-quiet", offer["id"]) == []

    at(env, "2026-12-07T07:00")
    env.drain()
    assert len(alerts(env, "tok-quiet", offer["id"])) == 1


def test_an_alert_given_up_because_the_shop_would_not_open_in_time_goes_when_new_hours_open_it_in_time(env):
    key, shop = bakery(env)
    env.api.subscriber(fcm_token="tok-quiet", lat=SHOP[0] + 0.001, lon=SHOP[1], radius_m=1000,
                       quiet_hours={"start": "18:30", "end": "20:00"}, timezone="Europe/Rome")
    at(env, "2026-12-05T19:00")  # Saturday, open until 19:30, closed on Sunday
    offer = post(env, key, shop, "2026-12-07T06:00", beyond_closing=True).json
    env.drain()
    at(env, "2026-12-05T20:00")  # quiet hours over; the shop opens on Monday at 7:00, after the offer
    env.drain()
    assert alerts(env, "tok-quiet", offer["id"]) == []
    assert [(n.status, n.reason) for n in env.notifications(offer["id"])] == [("suppressed", "shop_closed")]

    # The shopkeeper opens on Sunday mornings from now on: the resident is told at 9:00.
    at(env, "2026-12-05T21:00")
    new_hours(env, key, shop, "Mo-Sa 07:00-19:30; Su 09:00-12:00")
    env.drain()
    assert alerts(env, "tok-quiet", offer["id"]) == []
    at(env, "2026-12-06T09:00")
    env.drain()
    assert len(alerts(env, "tok-quiet", offer["id"])) == 1
    at(env, "2026-12-06T10:00")
    env.drain()
    assert len(alerts(env, "tok-quiet", offer["id"])) == 1
    assert [n.status for n in env.notifications(offer["id"])] == ["sent"]


def test_a_wave_held_for_the_opening_goes_by_the_new_hours_when_they_change(env):
    from tests.support.pages import csrf, sign_in_shop

    key, shop = bakery(env)
    env.api.subscriber(fcm_token="tok-near", lat=SHOP[0] + 0.001, lon=SHOP[1], radius_m=1000)
    at(env, "2026-12-06T10:00")  # Sunday: closed all day, opens Monday at 7:00
    offer = post(env, key, shop, "2026-12-07T12:00").json
    theirs_key, theirs = bakery(env)  # another shop with the same hours, left as they are
    other = post(env, theirs_key, theirs, "2026-12-07T12:00").json
    env.drain()
    assert alerts(env, "tok-near", offer["id"]) == []

    # Open on Sundays from now on: told at once, not on Monday.
    assert new_hours(env, key, shop, "Mo-Su 07:00-19:30")["open_now"] is True
    env.drain()
    assert len(alerts(env, "tok-near", offer["id"])) == 1
    assert alerts(env, "tok-near", other["id"]) == []  # its shop's hours did not change

    # Through the shop's page: opening at noon today instead of tomorrow at 7:00.
    assert sign_in_shop(env.api.c, theirs_key).status_code == 303
    r = env.api.c.post(f"/shop/shops/{theirs['id']}/hours", data={
        "csrf_token": csrf(env.api.c.get("/shop/").text), "opening_hours": "Mo-Sa 07:00-19:30; Su 12:00-14:00"})
    assert r.status_code == 303
    env.drain()
    at(env, "2026-12-06T11:59")
    env.drain()
    assert alerts(env, "tok-near", other["id"]) == []
    at(env, "2026-12-06T12:00")
    env.drain()
    assert len(alerts(env, "tok-near", other["id"])) == 1

    # Nothing goes twice, at the old opening or later.
    at(env, "2026-12-07T07:00")
    env.drain()
    assert [len(alerts(env, "tok-near", o["id"])) for o in (offer, other)] == [1, 1]
    assert [n.status for n in env.notifications(offer["id"]) + env.notifications(other["id"])] == ["sent", "sent"]


def test_pushes_waiting_for_the_opening_go_by_the_new_hours_when_they_change(env):
    key, shop = bakery(env)
    env.api.subscriber(fcm_token="tok-drops", lat=SHOP[0] + 0.001, lon=SHOP[1], radius_m=1000, price_drops=True)
    env.api.subscriber(fcm_token="tok-quiet", lat=SHOP[0] + 0.002, lon=SHOP[1], radius_m=1000,
                       quiet_hours={"start": "18:30", "end": "20:00"}, timezone="Europe/Rome")
    at(env, "2026-12-05T19:00")  # Saturday, open until 19:30
    steps = [{"at": rome("2026-12-06T12:30").isoformat(), "discount_pct": 60}]
    offer = post(env, key, shop, "2026-12-07T12:00", beyond_closing=True, discount_pct=40, price_steps=steps).json
    env.drain()
    assert (len(alerts(env, "tok-drops", offer["id"])), alerts(env, "tok-quiet", offer["id"])) == (1, [])
    at(env, "2026-12-05T20:00")  # quiet hours over, the shop closed: the alert waits for Monday 7:00
    env.drain()
    assert alerts(env, "tok-quiet", offer["id"]) == []

    # Open on Sunday mornings from now on: the alert goes at 9:00 tomorrow, not on Monday.
    at(env, "2026-12-05T21:00")
    assert new_hours(env, key, shop, "Mo-Sa 07:00-19:30; Su 09:00-12:00")["opens_at"] == utc("2026-12-06T09:00")
    env.drain()
    at(env, "2026-12-06T08:59")
    env.drain()
    assert alerts(env, "tok-quiet", offer["id"]) == []
    at(env, "2026-12-06T09:00")
    env.drain()
    assert len(alerts(env, "tok-quiet", offer["id"])) == 1

    # The price falls after closing: its push waits for Monday 7:00, until the shopkeeper says
    # the shop is open this afternoon too; then it goes within a dispatcher run.
    at(env, "2026-12-06T12:30")
    env.container.price_steps.apply_due()
    env.drain()
    at(env, "2026-12-06T13:00")
    env.drain()
    assert price_drops(env, "tok-drops", offer["id"]) == []
    assert new_hours(env, key, shop, "Mo-Sa 07:00-19:30; Su 09:00-18:00")["open_now"] is True
    env.drain()
    [drop] = price_drops(env, "tok-drops", offer["id"])
    assert drop["data"]["price_cents"] == "160"

    # Nothing goes twice, at the old opening or later.
    for local in ("2026-12-07T07:00", "2026-12-07T08:00"):
        at(env, local)
        env.drain()
    assert [len(alerts(env, "tok-quiet", offer["id"])), len(price_drops(env, "tok-drops", offer["id"]))] == [1, 1]
    assert sorted((n.kind, n.status) for n in env.notifications(offer["id"])) == [
        ("offer", "sent"), ("offer", "sent"), ("price-1", "sent")]
