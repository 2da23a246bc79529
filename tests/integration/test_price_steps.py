"""Scheduled price steps: the pure schedule rules, the API, and each step applied by the scheduler's
service and pushed through firebase-admin to the FCM emulator, to the residents who asked and only them."""
from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dealsvc.adapters.db.models import Fanout, Offer
from dealsvc.domain.errors import RuleViolation
from dealsvc.domain.pricing import (
    PriceStep,
    catch_up,
    price_offer,
    schedule_price_steps,
    steps_from_json,
    steps_to_json,
)
from dealsvc.domain.rules import Rules
from tests.support.scheduler import wait_for_line
from tests.support.push import Env, env  # noqa: F401  (env is the fixture used below)

SHOP = (45.4642, 9.1900)
NEAR = (45.4660, 9.1900)  # 200 m from the shop

# --- the pure rules ---------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 16, 0, tzinfo=timezone.utc)
EXPIRES = NOW + timedelta(hours=4)


def schedule(steps, *, original=400, current=240, rules=Rules()):
    return schedule_price_steps(
        steps, rules, original_cents=original, current_cents=current, now=NOW, expires_at=EXPIRES
    )


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def test_a_schedule_is_priced_in_whole_cents_as_the_offer_is():
    steps = schedule(
        [{"at": at(1), "discount_pct": 50}, {"at": at(2), "price_cents": 170}, {"at": at(3), "discount_pct": 60}]
    )
    assert steps == [PriceStep(at(1), 200, 50.0), PriceStep(at(2), 170, 57.5), PriceStep(at(3), 160, 60.0)]
    # The same rounding as the offer's own price: an odd original lands on the nearest cent in the band.
    [odd] = schedule([{"at": at(1), "discount_pct": 55.5}], original=333, current=190)
    expected = price_offer(333, Rules(), discount_pct=55.5)
    assert (odd.price_cents, odd.discount_pct) == (expected.price_cents, expected.discount_pct)
    assert schedule([]) == []


@pytest.mark.parametrize(
    "steps, errors",
    [
        ([{"at": NOW, "discount_pct": 50}], {"price_steps.0.at"}),
        ([{"at": at(-1), "discount_pct": 50}], {"price_steps.0.at"}),
        ([{"at": EXPIRES, "discount_pct": 50}], {"price_steps.0.at"}),
        ([{"at": at(2), "discount_pct": 50}, {"at": at(2), "discount_pct": 55}], {"price_steps.1.at"}),
        ([{"at": at(2), "discount_pct": 50}, {"at": at(1), "discount_pct": 55}], {"price_steps.1.at"}),
        # Each price strictly below the one before: the offer's own (240 cents) first.
        ([{"at": at(1), "price_cents": 240}], {"price_steps.0.price_cents"}),
        ([{"at": at(1), "discount_pct": 40}], {"price_steps.0.discount_pct"}),
        ([{"at": at(1), "discount_pct": 50}, {"at": at(2), "price_cents": 200}], {"price_steps.1.price_cents"}),
        ([{"at": at(1), "discount_pct": 55}, {"at": at(2), "discount_pct": 50}], {"price_steps.1.discount_pct"}),
        # The operator's band, as for the offer.
        ([{"at": at(1), "discount_pct": 60.5}], {"price_steps.0.discount_pct"}),
        ([{"at": at(1), "price_cents": 150}], {"price_steps.0.price_cents"}),
        ([{"at": at(1), "price_cents": 400}], {"price_steps.0.price_cents"}),
        # Every problem at once, each under its own key.
        ([{"at": at(5), "discount_pct": 70}, {"at": at(1), "discount_pct": 50}], {
            "price_steps.0.at", "price_steps.0.discount_pct", "price_steps.1.at",
        }),
        ([{"at": at(i / 10 + 0.1), "discount_pct": 41 + i} for i in range(6)], {"price_steps"}),
    ],
)
def test_a_schedule_that_breaks_a_rule_names_each_field(steps, errors):
    with pytest.raises(RuleViolation) as caught:
        schedule(steps)
    assert set(caught.value.errors) == errors


def test_a_narrower_band_holds_every_step():
    rules = Rules(min_discount_pct=40, max_discount_pct=50)
    with pytest.raises(RuleViolation) as caught:
        schedule([{"at": at(1), "discount_pct": 45}, {"at": at(2), "discount_pct": 55}], rules=rules)
    assert set(caught.value.errors) == {"price_steps.1.discount_pct"}


def test_catching_up_passes_over_the_missed_steps_to_the_latest_due():
    steps = [PriceStep(at(1), 200, 50.0), PriceStep(at(2), 180, 55.0), PriceStep(at(3), 160, 60.0)]
    assert catch_up(steps, 0, at(0.5)) == (0, at(1))
    assert catch_up(steps, 0, at(1)) == (1, at(2))
    assert catch_up(steps, 0, at(2.5)) == (2, at(3))
    assert catch_up(steps, 2, at(2.5)) == (2, at(3))
    assert catch_up(steps, 1, at(9)) == (3, None)
    assert catch_up(steps, 3, at(9)) == (3, None)
    assert catch_up([], 0, at(9)) == (0, None)


def test_steps_keep_their_values_through_json():
    steps = [PriceStep(at(1), 200, 50.0, previous_price_cents=240), PriceStep(at(2), 160, 60.0)]
    stored = steps_to_json(steps)
    assert stored[0] == {"at": "2026-11-22T17:00:00Z", "price_cents": 200, "discount_pct": 50.0, "previous_price_cents": 240}
    assert "previous_price_cents" not in stored[1]
    assert steps_from_json(stored) == steps
    assert steps_from_json(None) == []


# --- the API ----------------------------------------------------------------------------


def _in(minutes: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def owner(api):
    key = api.merchant()["api_key"]
    return key, api.shop(key, lat=SHOP[0], lon=SHOP[1])


def post_offer(api, key, shop, **extra):
    body = api.offer_body(shop["id"], discount_pct=40, expires_at=_in(180), **extra)
    return api.c.post("/api/v1/offers", json=body, headers=api.h(key))


def test_an_offer_takes_a_schedule_and_every_view_shows_it(api, owner):
    key, shop = owner
    r = post_offer(api, key, shop, price_steps=[
        {"at": _in(60), "discount_pct": 50},
        {"at": _in(120), "price_cents": 160},
    ])
    assert r.status_code == 201, r.json
    offer = r.json
    assert (offer["price_cents"], offer["discount_pct"]) == (240, 40.0)
    assert [(s["price_cents"], s["discount_pct"], s["applied"]) for s in offer["price_steps"]] == [
        (200, 50.0, False), (160, 60.0, False),
    ]
    assert all(s["at"].endswith("Z") for s in offer["price_steps"])
    assert offer["next_price_at"] == offer["price_steps"][0]["at"]

    plain = post_offer(api, key, shop).json
    assert plain["price_steps"] == [] and plain["next_price_at"] is None

    # The 201 answer also says whether the end was cut to the shop's closing (capped_to_closing):
    # an outcome of the posting, not part of the offer.
    assert offer.pop("capped_to_closing") is False
    assert api.c.get(f"/api/v1/offers/{offer['id']}").json == offer
    listed = api.c.get(f"/api/v1/offers?shop_id={shop['id']}", headers=api.h(key)).json["items"]
    assert {o["id"]: o for o in listed}[offer["id"]] == offer
    deals = api.c.get(f"/api/v1/deals?lat={SHOP[0]}&lon={SHOP[1]}&radius_m=1000").json["items"]
    deal = {d["id"]: d for d in deals}[offer["id"]]
    assert {k: deal[k] for k in offer} == offer
    assert {d["id"]: d for d in deals}[plain["id"]]["price_steps"] == []


@pytest.mark.parametrize(
    "steps, keys",
    [
        ([{"at": "IN60", "discount_pct": 50, "colour": "red"}], {"price_steps.0.colour"}),
        ([{"at": "2030-11-22T18:00:00", "discount_pct": 50}], {"price_steps.0.at"}),
        ([{"at": "at six", "discount_pct": 50}], {"price_steps.0.at"}),
        ([{"discount_pct": 50}], {"price_steps.0.at"}),
        ([{"at": "IN60", "discount_pct": 50, "price_cents": 200}], {"price_steps.0.discount_pct", "price_steps.0.price_cents"}),
        ([{"at": "IN60"}], {"price_steps.0.discount_pct", "price_steps.0.price_cents"}),
        ([{"at": "IN60", "discount_pct": "50"}], {"price_steps.0.discount_pct"}),
        ([{"at": "IN60", "price_cents": 200.5}], {"price_steps.0.price_cents"}),
        ([{"at": "IN60", "discount_pct": 50}, "later"], {"price_steps.1"}),
        ([], {"price_steps"}),
        (None, {"price_steps"}),
        ({"at": "IN60", "discount_pct": 50}, {"price_steps"}),
        ([{"at": "IN60", "discount_pct": 41 + i} for i in range(6)], {"price_steps"}),
    ],
)
def test_a_malformed_schedule_is_a_400_naming_the_field(api, owner, steps, keys):
    key, shop = owner

    def fill(value):
        if value == "IN60":
            return _in(60)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    r = post_offer(api, key, shop, price_steps=fill(steps))
    assert r.status_code == 400, r.json
    assert r.mimetype == "application/problem+json"
    assert set(r.json["errors"]) == keys, r.json


@pytest.mark.parametrize(
    "steps, keys",
    [
        ([{"at": -5, "discount_pct": 50}], {"price_steps.0.at"}),
        ([{"at": 200, "discount_pct": 50}], {"price_steps.0.at"}),
        ([{"at": 60, "discount_pct": 50}, {"at": 30, "discount_pct": 55}], {"price_steps.1.at"}),
        ([{"at": 60, "price_cents": 240}], {"price_steps.0.price_cents"}),
        ([{"at": 60, "discount_pct": 55}, {"at": 90, "discount_pct": 50}], {"price_steps.1.discount_pct"}),
        ([{"at": 60, "discount_pct": 65}], {"price_steps.0.discount_pct"}),
        ([{"at": 60, "price_cents": 100}], {"price_steps.0.price_cents"}),
    ],
)
def test_a_schedule_that_breaks_a_rule_is_a_422_naming_the_field(api, owner, steps, keys):
    key, shop = owner
    r = post_offer(api, key, shop, price_steps=[{**s, "at": _in(s["at"])} for s in steps])
    assert r.status_code == 422, r.json
    assert set(r.json["errors"]) == keys, r.json
    # Nothing was posted.
    assert api.c.get(f"/api/v1/offers?shop_id={shop['id']}", headers=api.h(key)).json["items"] == []


def test_the_band_in_force_holds_the_steps(api, owner):
    key, shop = owner
    api.rules(max_discount_pct=50)
    r = post_offer(api, key, shop, price_steps=[{"at": _in(60), "discount_pct": 55}])
    assert r.status_code == 422 and set(r.json["errors"]) == {"price_steps.0.discount_pct"}


def test_a_patch_sets_replaces_and_removes_the_schedule(api, owner):
    key, shop = owner
    offer = post_offer(api, key, shop).json

    def patch(body):
        return api.c.patch(f"/api/v1/offers/{offer['id']}", json=body, headers=api.h(key))

    r = patch({"price_steps": [{"at": _in(60), "discount_pct": 50}]})
    assert r.status_code == 200, r.json
    assert [s["price_cents"] for s in r.json["price_steps"]] == [200]
    r = patch({"price_steps": [{"at": _in(30), "discount_pct": 45}, {"at": _in(90), "discount_pct": 55}]})
    assert [s["price_cents"] for s in r.json["price_steps"]] == [220, 180]
    assert r.json["next_price_at"] == r.json["price_steps"][0]["at"]
    assert api.c.get(f"/api/v1/offers/{offer['id']}").json == r.json

    # Checked as at posting, against the price now.
    r = patch({"price_steps": [{"at": _in(30), "discount_pct": 40}]})
    assert r.status_code == 422 and set(r.json["errors"]) == {"price_steps.0.discount_pct"}
    r = patch({"price_steps": [{"at": _in(-1), "discount_pct": 50}]})
    assert r.status_code == 422 and set(r.json["errors"]) == {"price_steps.0.at"}
    r = patch({"price_steps": [{"at": _in(30), "discount_pct": 50, "extra": 1}]})
    assert r.status_code == 400 and set(r.json["errors"]) == {"price_steps.0.extra"}
    assert [s["price_cents"] for s in api.c.get(f"/api/v1/offers/{offer['id']}").json["price_steps"]] == [220, 180]

    for removal in ([], None):
        r = patch({"price_steps": removal})
        assert r.status_code == 200, r.json
        assert r.json["price_steps"] == [] and r.json["next_price_at"] is None
        patch({"price_steps": [{"at": _in(60), "discount_pct": 50}]})


@pytest.mark.parametrize("how", ["sold_out", "cancelled"])
def test_only_an_active_offer_takes_a_schedule(api, owner, how):
    key, shop = owner
    offer = post_offer(api, key, shop, price_steps=[{"at": _in(60), "discount_pct": 50}]).json
    r = api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": how}, headers=api.h(key))
    assert r.status_code == 200
    # Not active, so no step is coming.
    assert r.json["next_price_at"] is None and [s["applied"] for s in r.json["price_steps"]] == [False]
    for steps in ([{"at": _in(60), "discount_pct": 55}], []):
        r = api.c.patch(f"/api/v1/offers/{offer['id']}", json={"price_steps": steps}, headers=api.h(key))
        assert r.status_code == 409, r.json
    # Stock that brings it back makes it schedulable again, in the same request.
    if how == "sold_out":
        r = api.c.patch(
            f"/api/v1/offers/{offer['id']}", json={"quantity": 3, "price_steps": [{"at": _in(45), "discount_pct": 55}]},
            headers=api.h(key),
        )
        assert r.status_code == 200, r.json
        assert r.json["status"] == "active" and r.json["next_price_at"] == r.json["price_steps"][0]["at"]


def test_another_merchants_offer_cannot_be_rescheduled(api, owner):
    key, shop = owner
    offer = post_offer(api, key, shop).json
    other = api.merchant()["api_key"]
    r = api.c.patch(f"/api/v1/offers/{offer['id']}", json={"price_steps": []}, headers=api.h(other))
    assert r.status_code == 404


# --- applied by the scheduler, pushed through firebase-admin to the emulator ------------------


def _setup(env: Env, **residents):
    key = env.api.merchant()["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1], name="Forno Rossi")
    subs = {
        token: env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token=token, **extra)
        for token, extra in residents.items()
    }
    return key, shop, subs


def _post(env: Env, key: str, shop: dict, steps: list[tuple[float, float]], hours: float = 3) -> dict:
    now = env.clock.now
    return env.api.offer(
        key, shop["id"], discount_pct=40, expires_at=(now + timedelta(hours=hours)).isoformat(),
        price_steps=[{"at": (now + timedelta(hours=h)).isoformat(), "discount_pct": pct} for h, pct in steps],
    )


def _fanouts(env: Env, offer_id: str) -> list[tuple[str, int]]:
    with env.container.db.read() as s:
        return list(s.execute(
            select(Fanout.kind, Fanout.seq).where(Fanout.offer_id == offer_id, Fanout.kind == "price").order_by(Fanout.id)
        ).all())


def _price_of(env: Env, offer_id: str) -> tuple[int, int]:
    with env.container.db.read() as s:
        return tuple(s.execute(select(Offer.price_cents, Offer.price_step).where(Offer.id == offer_id)).one())


def _get(env: Env, offer_id: str) -> dict:
    return env.api.c.get(f"/api/v1/offers/{offer_id}").json


def test_each_price_step_reaches_the_residents_who_asked_and_only_them(env):
    # A's own cap is spent by the alert: a price drop updates that alert, so it is not capped.
    key, shop, _ = _setup(env, **{"tok-a": {"price_drops": True, "max_per_day": 1}, "tok-b": {}})
    offer = _post(env, key, shop, [(1, 50), (2, 60)])
    steps = offer["price_steps"]
    env.drain()
    [alert_a], [alert_b] = env.received("tok-a"), env.received("tok-b")
    assert alert_a["data"]["price_cents"] == "240"

    steps_service = env.container.price_steps
    assert steps_service.apply_due() == []  # nothing due yet
    env.clock.advance(hours=1)
    assert steps_service.apply_due() == [(offer["id"], 1)]
    assert steps_service.apply_due() == []  # idempotent
    env.drain()

    view = _get(env, offer["id"])
    assert (view["price_cents"], view["discount_pct"]) == (200, 50.0)
    assert [s["applied"] for s in view["price_steps"]] == [True, False]
    assert view["next_price_at"] == steps[1]["at"]
    [_, first] = env.received("tok-a")
    assert env.received("tok-b") == [alert_b]
    collapse = f"offer-{offer['id']}"
    expires = datetime.fromisoformat(offer["expires_at"].replace("Z", "+00:00"))
    data = first["data"]
    assert data["type"] == "price_drop"
    assert (data["offer_id"], data["shop_id"], data["title"]) == (offer["id"], shop["id"], "Pane di ieri")
    assert (data["price_cents"], data["discount_pct"], data["previous_price_cents"]) == ("200", "50", "240")
    assert data["original_price_cents"] == "400" and data["expires_at"] == offer["expires_at"]
    assert first["android"]["collapse_key"] == alert_a["android"]["collapse_key"] == collapse
    assert first["apns"]["headers"]["apns-collapse-id"] == collapse
    assert first["apns"]["headers"]["apns-expiration"] == str(math.floor(expires.timestamp()))
    assert 0 < float(first["android"]["ttl"].rstrip("s")) <= (expires - env.clock.now).total_seconds()
    assert first["notification"]["title"] == "Now -50%: Pane di ieri at Forno Rossi"
    assert "€2.00 instead of €4.00 (€2.40 before)" in first["notification"]["body"]

    env.clock.advance(hours=1)
    assert steps_service.apply_due() == [(offer["id"], 2)]
    env.drain()
    [_, _, second] = env.received("tok-a")
    assert env.received("tok-b") == [alert_b]
    assert (second["data"]["price_cents"], second["data"]["discount_pct"], second["data"]["previous_price_cents"]) == (
        "160", "60", "200",
    )
    assert second["android"]["collapse_key"] == collapse
    assert second["notification"]["title"] == "Now -60%: Pane di ieri at Forno Rossi"
    view = _get(env, offer["id"])
    assert view["price_cents"] == 160 and view["next_price_at"] is None
    assert [s["applied"] for s in view["price_steps"]] == [True, True]

    # Nothing more: the schedule is spent.
    env.clock.advance(minutes=30)
    assert steps_service.apply_due() == []
    env.drain()
    assert len(env.received("tok-a")) == 3
    assert _fanouts(env, offer["id"]) == [("price", 1), ("price", 2)]
    stats = env.stats(key, offer["id"])
    assert stats["price_drops"] == 2 and stats["matched"] == 2 and stats["sent"] == 2


def test_residents_not_told_yet_get_the_new_price_in_their_alert(env):
    # Quiet hours hold B's alert back past the step: the alert itself carries the new price.
    # They are on B's clock: Milan's, found from their place.
    now = env.clock.now.astimezone(ZoneInfo("Europe/Rome"))
    quiet = {"start": (now - timedelta(minutes=30)).strftime("%H:%M"), "end": (now + timedelta(minutes=90)).strftime("%H:%M")}
    key, shop, _ = _setup(env, **{"tok-a": {"price_drops": True}, "tok-b": {"price_drops": True, "quiet_hours": quiet}})
    offer = _post(env, key, shop, [(1, 50)])
    env.drain()
    assert len(env.received("tok-a")) == 1 and env.received("tok-b") == []
    env.clock.advance(hours=1)
    env.container.price_steps.apply_due()
    env.drain()
    assert [m["data"]["type"] for m in env.received("tok-a")] == ["offer", "price_drop"]
    assert env.received("tok-b") == []
    env.clock.advance(minutes=31)
    env.drain()
    [alert] = env.received("tok-b")
    assert alert["data"]["type"] == "offer" and alert["data"]["price_cents"] == "200"
    assert alert["data"]["offer_id"] == offer["id"]


def test_a_price_drop_waits_for_the_end_of_quiet_hours(env):
    now = env.clock.now.astimezone(ZoneInfo("Europe/Rome"))  # the resident's clock, from their place
    quiet = {"start": (now + timedelta(minutes=50)).strftime("%H:%M"), "end": (now + timedelta(minutes=70)).strftime("%H:%M")}
    key, shop, _ = _setup(env, **{"tok-a": {"price_drops": True, "quiet_hours": quiet}})
    offer = _post(env, key, shop, [(1, 50)])
    env.drain()
    env.clock.advance(hours=1)
    assert env.container.price_steps.apply_due() == [(offer["id"], 1)]
    env.drain()
    assert len(env.received("tok-a")) == 1  # quiet: deferred, not lost
    env.clock.advance(minutes=15)
    env.drain()
    [_, drop] = env.received("tok-a")
    assert drop["data"]["type"] == "price_drop" and drop["data"]["price_cents"] == "200"


def test_overdue_steps_apply_once_with_one_push_for_the_latest(env):
    key, shop, _ = _setup(env, **{"tok-a": {"price_drops": True}})
    offer = _post(env, key, shop, [(1, 50), (2, 55), (2.5, 60)])
    env.drain()
    env.clock.advance(hours=2, minutes=10)  # the scheduler was down through two steps
    assert env.container.price_steps.apply_due() == [(offer["id"], 2)]
    assert env.container.price_steps.apply_due() == []
    env.drain()
    [_, drop] = env.received("tok-a")
    assert (drop["data"]["price_cents"], drop["data"]["previous_price_cents"], drop["data"]["step"]) == ("180", "240", "2")
    view = _get(env, offer["id"])
    assert [s["applied"] for s in view["price_steps"]] == [True, True, False]
    assert view["next_price_at"] == view["price_steps"][2]["at"]
    assert _fanouts(env, offer["id"]) == [("price", 2)]


def test_a_push_overtaken_by_the_next_step_is_dropped(env):
    key, shop, _ = _setup(env, **{"tok-a": {"price_drops": True}})
    offer = _post(env, key, shop, [(1, 50), (2, 60)])
    env.drain()
    env.clock.advance(hours=1)
    env.container.price_steps.apply_due()
    while env.container.dispatcher.expand_one():  # step 1's push is queued, not yet sent
        pass
    env.clock.advance(hours=1)
    env.container.price_steps.apply_due()
    env.drain()
    [_, drop] = env.received("tok-a")
    assert drop["data"]["price_cents"] == "160"
    reasons = {n.kind: (n.status, n.reason) for n in env.notifications(offer["id"])}
    assert reasons["price-1"] == ("dropped", "superseded") and reasons["price-2"] == ("sent", None)


@pytest.mark.parametrize("how", ["sold_out", "cancelled", "expired"])
def test_an_offer_no_longer_live_never_changes_price_nor_pushes(env, how):
    key, shop, subs = _setup(env, **{"tok-a": {"price_drops": True}})
    offer = _post(env, key, shop, [(1, 50)], hours=1.5)
    env.drain()
    if how == "expired":
        env.clock.advance(hours=1, minutes=31)  # past the step and the expiry; the sweep has not run
    else:
        r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": how}, headers=env.api.h(key))
        assert r.status_code == 200, r.json
        env.clock.advance(hours=1, minutes=1)
    assert env.container.price_steps.apply_due() == []
    env.container.expiry.expire_due()
    env.drain()
    assert _price_of(env, offer["id"]) == (240, 0)
    assert _fanouts(env, offer["id"]) == []
    assert [m["data"]["type"] for m in env.received("tok-a")] == ["offer", "withdrawn"]
    view = _get(env, offer["id"])
    assert view["price_cents"] == 240 and view["next_price_at"] is None


def test_a_price_drop_queued_when_the_offer_ends_is_dropped(env):
    key, shop, _ = _setup(env, **{"tok-a": {"price_drops": True}})
    offer = _post(env, key, shop, [(1, 50)])
    env.drain()
    env.clock.advance(hours=1)
    env.container.price_steps.apply_due()
    while env.container.dispatcher.expand_one():
        pass
    r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=env.api.h(key))
    assert r.status_code == 200
    env.drain()
    assert [m["data"]["type"] for m in env.received("tok-a")] == ["offer", "withdrawn"]
    reasons = {n.kind: (n.status, n.reason) for n in env.notifications(offer["id"])}
    assert reasons["price-1"] == ("dropped", "offer_cancelled")


def test_rescheduling_keeps_the_applied_steps_and_checks_against_the_price_now(env):
    key, shop, _ = _setup(env, **{"tok-a": {"price_drops": True}})
    offer = _post(env, key, shop, [(1, 50), (2, 55)])
    env.drain()
    env.clock.advance(hours=1)
    env.container.price_steps.apply_due()
    env.drain()

    def patch(steps):
        return env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"price_steps": steps}, headers=env.api.h(key))

    later = (env.clock.now + timedelta(minutes=30)).isoformat()
    r = patch([{"at": later, "discount_pct": 50}])  # 200 cents: the price now, not below it
    assert r.status_code == 422 and set(r.json["errors"]) == {"price_steps.0.discount_pct"}
    r = patch([{"at": later, "discount_pct": 60}])
    assert r.status_code == 200, r.json
    assert [(s["price_cents"], s["applied"]) for s in r.json["price_steps"]] == [(200, True), (160, False)]
    assert r.json["next_price_at"] == r.json["price_steps"][1]["at"]
    env.clock.advance(minutes=30)
    assert env.container.price_steps.apply_due() == [(offer["id"], 2)]  # numbered after the applied one
    env.drain()
    assert [m["data"].get("step") for m in env.received("tok-a")] == [None, "1", "2"]
    r = patch([])
    assert r.status_code == 200
    assert [s["applied"] for s in r.json["price_steps"]] == [True, True] and r.json["next_price_at"] is None


def test_a_scheduler_process_applies_a_step_when_it_falls_due(container, api, worker_process):
    key = api.merchant()["api_key"]
    shop = api.shop(key, lat=SHOP[0], lon=SHOP[1])
    scheduler = worker_process("scheduler")
    try:
        wait_for_line(scheduler, "scheduler elected", 30)
        due = datetime.now(timezone.utc) + timedelta(seconds=2)
        offer = api.offer(key, shop["id"], discount_pct=40, price_steps=[{"at": due.isoformat(), "discount_pct": 50}])
        wait_for_line(scheduler, f"offer {offer['id']}: price step 1 applied", 15)
        applied_at = datetime.now(timezone.utc)
        time.sleep(0.5)
    finally:
        scheduler.stop()
    assert applied_at >= due
    view = api.c.get(f"/api/v1/offers/{offer['id']}").json
    assert view["price_cents"] == 200 and [s["applied"] for s in view["price_steps"]] == [True]
    with container.db.read() as s:
        assert s.execute(select(Fanout.kind, Fanout.seq).where(Fanout.offer_id == offer["id"], Fanout.kind == "price")).all() == [("price", 1)]
    assert "Traceback" not in scheduler.log()
