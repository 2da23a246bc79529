"""A resident's extra places, price-drop opt-in and favourite shops, as a client sees them."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dealsvc.adapters.db.models import Favorite, Subscriber, SubscriberPlace
from dealsvc.services.favorites import MAX_FAVORITES
from tests.support.api import ADMIN_TOKEN

PROBLEM_JSON = "application/problem+json"
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORK = {"label": "work", "lat": 45.4781, "lon": 9.2254, "radius_m": 800, "days": ["mon", "tue", "wed", "thu", "fri"],
        "hours": {"start": "11:30", "end": "14:30"}}
MUM = {"label": "mum", "lat": 45.4520, "lon": 9.1600}


def _problem(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:500])
    assert r.mimetype == PROBLEM_JSON, r.content_type
    body = r.json
    assert body["status"] == status and body["detail"]
    return body


def _sub_url(sub: dict, tail: str = "") -> str:
    return f"/api/v1/subscribers/{sub['id']}{tail}"


def _patch(api, sub: dict, body: dict):
    return api.c.patch(_sub_url(sub), json=body, headers=api.h(sub["secret"]))


def _get(api, sub: dict) -> dict:
    r = api.c.get(_sub_url(sub), headers=api.h(sub["secret"]))
    assert r.status_code == 200, r.json
    return r.json


def _updated_at(container, sub: dict):
    with container.db.read() as s:
        return s.scalar(select(Subscriber.updated_at).where(Subscriber.id == sub["id"]))


# --- places -------------------------------------------------------------------------------


def test_a_client_that_sends_only_one_place_sees_no_others_and_no_price_drops(api):
    sub = api.subscriber(radius_m=700)
    assert sub["places"] == [] and sub["price_drops"] is False
    assert (sub["lat"], sub["lon"], sub["radius_m"]) == (45.4650, 9.1900, 700)
    assert _get(api, sub)["places"] == []


def test_places_round_trip_in_order_with_defaults(api):
    sub = api.subscriber(places=[WORK, MUM], price_drops=True)
    expected = [
        {**WORK},
        {"label": "mum", "lat": 45.4520, "lon": 9.1600, "radius_m": 1000, "days": EVERY_DAY, "hours": None},
    ]
    assert sub["places"] == expected
    assert sub["price_drops"] is True
    seen = _get(api, sub)
    assert seen["places"] == expected and seen["price_drops"] is True
    # The main place is untouched by the others.
    assert (seen["lat"], seen["lon"]) == (45.4650, 9.1900)


def test_a_place_without_radius_takes_the_default_rule_of_the_moment(api):
    api.rules(default_radius_m=650)
    sub = api.subscriber(places=[MUM])
    assert sub["places"][0]["radius_m"] == 650


def test_overnight_hours_are_kept_as_given(api):
    night = {"label": "night shift", "lat": 45.5, "lon": 9.2, "days": ["sat", "fri"], "hours": {"start": "22:00", "end": "02:00"}}
    sub = api.subscriber(places=[night])
    # Days come back in week order whatever order they were sent in.
    assert sub["places"][0]["days"] == ["fri", "sat"]
    assert sub["places"][0]["hours"] == {"start": "22:00", "end": "02:00"}
    assert sub["places"][0]["label"] == "night shift"


def test_patch_replaces_the_whole_list_keeps_it_when_absent_and_clears_it_with_an_empty_list(api):
    sub = api.subscriber(places=[WORK, MUM])

    r = _patch(api, sub, {"radius_m": 900})
    assert r.status_code == 200 and [p["label"] for p in r.json["places"]] == ["work", "mum"]

    gym = {"label": "gym", "lat": 45.49, "lon": 9.21, "radius_m": 300, "hours": None}
    r = _patch(api, sub, {"places": [gym]})
    assert r.status_code == 200
    assert r.json["places"] == [{**gym, "days": EVERY_DAY}]
    assert _get(api, sub)["places"] == [{**gym, "days": EVERY_DAY}]

    r = _patch(api, sub, {"places": [MUM, WORK]})
    assert r.status_code == 200 and [p["label"] for p in r.json["places"]] == ["mum", "work"]

    r = _patch(api, sub, {"places": []})
    assert r.status_code == 200 and r.json["places"] == []
    seen = _get(api, sub)
    assert seen["places"] == [] and seen["radius_m"] == 900


def test_price_drops_can_be_switched_on_and_off(api):
    sub = api.subscriber()
    assert _patch(api, sub, {"price_drops": True}).json["price_drops"] is True
    assert _get(api, sub)["price_drops"] is True
    assert _patch(api, sub, {"price_drops": False}).json["price_drops"] is False
    for bad in ("yes", 1, None):
        body = _problem(_patch(api, sub, {"price_drops": bad}), 400)
        assert "price_drops" in body["errors"]


def test_two_places_besides_the_main_one_and_no_more(api):
    three = [WORK, MUM, {**MUM, "label": "gym"}]
    r = api.c.post("/api/v1/subscribers", json={"fcm_token": "tok-three", "lat": 45.46, "lon": 9.19, "places": three})
    body = _problem(r, 400)
    assert list(body["errors"]) == ["places"]
    assert "at most 2 places" in body["errors"]["places"][0] and "3 in all" in body["errors"]["places"][0]

    sub = api.subscriber(places=[WORK])
    body = _problem(_patch(api, sub, {"places": three}), 400)
    assert "places" in body["errors"]
    assert [p["label"] for p in _get(api, sub)["places"]] == ["work"]


@pytest.mark.parametrize("place, key", [
    ({k: v for k, v in MUM.items() if k != "label"}, "places.0.label"),
    ({**MUM, "label": ""}, "places.0.label"),
    ({**MUM, "label": "   "}, "places.0.label"),
    ({**MUM, "label": "x" * 33}, "places.0.label"),
    ({**MUM, "label": "wo\x00rk"}, "places.0.label"),
    ({**MUM, "label": 7}, "places.0.label"),
    ({"label": "mum", "lon": 9.16}, "places.0.lat"),
    ({"label": "mum", "lat": 45.45}, "places.0.lon"),
    ({**MUM, "lat": 91}, "places.0.lat"),
    ({**MUM, "lon": -180.5}, "places.0.lon"),
    ({**MUM, "lat": "45.45"}, "places.0.lat"),
    ({**MUM, "lat": None}, "places.0.lat"),
    ({**MUM, "lon": True}, "places.0.lon"),
    ({**MUM, "radius_m": 0}, "places.0.radius_m"),
    ({**MUM, "radius_m": 500.5}, "places.0.radius_m"),
    ({**MUM, "radius_m": "500"}, "places.0.radius_m"),
    ({**MUM, "days": []}, "places.0.days"),
    ({**MUM, "days": ["monday"]}, "places.0.days.0"),
    ({**MUM, "days": ["mon", "Tue"]}, "places.0.days.1"),
    ({**MUM, "days": ["mon", "mon"]}, "places.0.days"),
    ({**MUM, "days": "mon"}, "places.0.days"),
    ({**MUM, "days": None}, "places.0.days"),
    ({**MUM, "days": [1]}, "places.0.days.0"),
    ({**MUM, "hours": {"start": "09:00", "end": "09:00"}}, "places.0.hours.end"),
    ({**MUM, "hours": {"start": "9:00", "end": "17:00"}}, "places.0.hours.start"),
    ({**MUM, "hours": {"start": "09:00", "end": "24:00"}}, "places.0.hours.end"),
    ({**MUM, "hours": {"start": "09:00"}}, "places.0.hours.end"),
    ({**MUM, "hours": {"start": "09:00", "end": "17:00", "tz": "Europe/Rome"}}, "places.0.hours.tz"),
    ({**MUM, "hours": "09:00-17:00"}, "places.0.hours"),
    ({**MUM, "when": "weekdays"}, "places.0.when"),
    ("mum", "places.0"),
])
def test_a_malformed_place_is_a_400_naming_it_and_changes_nothing(api, place, key):
    sub = api.subscriber(places=[WORK])
    body = _problem(_patch(api, sub, {"places": [place]}), 400)
    assert key in body["errors"], body["errors"]
    assert all(isinstance(m, str) and m for messages in body["errors"].values() for m in messages)
    assert [p["label"] for p in _get(api, sub)["places"]] == ["work"]

    r = api.c.post("/api/v1/subscribers", json={"fcm_token": "tok-bad-place", "lat": 45.46, "lon": 9.19, "places": [place]})
    assert key in _problem(r, 400)["errors"]


@pytest.mark.parametrize("places", [None, {"label": "mum"}, "work"])
def test_places_must_be_a_list(api, places):
    sub = api.subscriber()
    body = _problem(_patch(api, sub, {"places": places}), 400)
    assert "places" in body["errors"]


def test_a_place_radius_above_the_rule_is_a_422_naming_that_place(api):
    r = api.c.post("/api/v1/subscribers", json={
        "fcm_token": "tok-far", "lat": 45.46, "lon": 9.19, "places": [MUM, {**WORK, "radius_m": 5001}],
    })
    body = _problem(r, 422)
    assert body["errors"] == {"places.1.radius_m": [body["errors"]["places.1.radius_m"][0]]}
    assert "5000" in body["errors"]["places.1.radius_m"][0]
    reach = api.c.get("/api/v1/admin/reach", query_string={"lat": 45.46, "lon": 9.19}, headers=api.h(ADMIN_TOKEN))
    assert reach.json["subscribers"] == 0  # nobody was registered

    sub = api.subscriber(places=[WORK])
    body = _problem(_patch(api, sub, {"radius_m": 6000, "places": [{**MUM, "radius_m": 7000}]}), 422)
    assert set(body["errors"]) == {"radius_m", "places.0.radius_m"}
    seen = _get(api, sub)
    assert seen["places"] == [WORK] and seen["radius_m"] == 1000

    api.rules(max_radius_m=8000)
    assert _patch(api, sub, {"places": [{**MUM, "radius_m": 7000}]}).json["places"][0]["radius_m"] == 7000


def test_every_change_to_places_moves_updated_at(api, container):
    sub = api.subscriber(places=[WORK])
    stamps = [_updated_at(container, sub)]
    for body in ({"places": [MUM]}, {"places": [{**MUM, "radius_m": 1200}]}, {"places": []}):
        assert _patch(api, sub, body).status_code == 200
        stamps.append(_updated_at(container, sub))
    assert all(a < b for a, b in zip(stamps, stamps[1:])), stamps


def test_places_are_shown_to_their_resident_only(api):
    secret_place = {"label": "work", "lat": 45.4876543, "lon": 9.2345678}
    sub = api.subscriber(places=[secret_place])
    neighbour = api.subscriber()
    merchant = api.merchant()
    for headers in (api.h(neighbour["secret"]), api.h(merchant["api_key"]), api.h(ADMIN_TOKEN), {}):
        for r in (api.c.get(_sub_url(sub), headers=headers), api.c.get(_sub_url(sub, "/favorites"), headers=headers)):
            assert r.status_code in (401, 403, 404)
            text = r.get_data(as_text=True)
            assert "45.4876543" not in text and "9.2345678" not in text


# --- favourite shops ----------------------------------------------------------------------


@pytest.fixture
def shops(api) -> list[dict]:
    m = api.merchant()
    return [
        api.shop(m["api_key"], name="Forno Rossi", category="bakery"),
        api.shop(m["api_key"], lat=45.47, lon=9.20, name="Frutta Verdi", category="produce"),
    ]


def _follow(api, sub: dict, shop_id: str):
    return api.c.post(_sub_url(sub, "/favorites"), json={"shop_id": shop_id}, headers=api.h(sub["secret"]))


def _favorites(api, sub: dict) -> list[dict]:
    r = api.c.get(_sub_url(sub, "/favorites"), headers=api.h(sub["secret"]))
    assert r.status_code == 200, r.json
    return r.json["items"]


def test_follow_list_and_follow_again(api, shops):
    sub = api.subscriber()
    assert _favorites(api, sub) == []

    first = _follow(api, sub, shops[0]["id"])
    assert first.status_code == 201
    assert {k: first.json[k] for k in ("shop_id", "name", "category")} == {
        "shop_id": shops[0]["id"], "name": "Forno Rossi", "category": "bakery"}
    assert first.json["created_at"].endswith("Z")

    again = _follow(api, sub, shops[0]["id"])
    assert again.status_code == 200 and again.json == first.json

    second = _follow(api, sub, shops[1]["id"])
    assert second.status_code == 201
    items = _favorites(api, sub)
    assert [i["shop_id"] for i in items] == [shops[1]["id"], shops[0]["id"]]  # newest first
    assert items[1] == first.json
    assert set(items[0]) == {"shop_id", "name", "category", "created_at"}


def test_unfollow_by_path_or_by_body(api, shops):
    sub = api.subscriber()
    for shop in shops:
        assert _follow(api, sub, shop["id"]).status_code == 201
    h = api.h(sub["secret"])

    r = api.c.delete(_sub_url(sub, f"/favorites/{shops[0]['id']}"), headers=h)
    assert r.status_code == 204 and r.data == b""
    assert [i["shop_id"] for i in _favorites(api, sub)] == [shops[1]["id"]]

    r = api.c.delete(_sub_url(sub, "/favorites"), json={"shop_id": shops[1]["id"]}, headers=h)
    assert r.status_code == 204
    assert _favorites(api, sub) == []

    # Not followed (any more), or no such shop at all: 404 both ways, naming shop_id.
    for shop_id in (shops[0]["id"], "shp_000000000000000000000000"):
        assert "shop_id" in _problem(api.c.delete(_sub_url(sub, f"/favorites/{shop_id}"), headers=h), 404)["errors"]
        assert "shop_id" in _problem(api.c.delete(_sub_url(sub, "/favorites"), json={"shop_id": shop_id}, headers=h), 404)["errors"]

    # Following again after unfollowing is a new follow.
    assert _follow(api, sub, shops[0]["id"]).status_code == 201


def test_an_unknown_shop_cannot_be_followed(api, shops):
    sub = api.subscriber()
    body = _problem(_follow(api, sub, "shp_000000000000000000000000"), 404)
    assert "shop_id" in body["errors"]
    assert _favorites(api, sub) == []


@pytest.mark.parametrize("body, key", [
    ({}, "shop_id"),
    ({"shop_id": ""}, "shop_id"),
    ({"shop_id": 42}, "shop_id"),
    ({"shop_id": None}, "shop_id"),
    ({"shop_id": "s" * 41}, "shop_id"),
    ({"shop_id": "shp\x00"}, "shop_id"),
    ({"shop_id": "{shop}", "notify": True}, "notify"),
])
def test_a_malformed_favourite_body_is_a_400(api, shops, body, key):
    sub = api.subscriber()
    body = {k: (shops[0]["id"] if v == "{shop}" else v) for k, v in body.items()}
    h = api.h(sub["secret"])
    assert key in _problem(api.c.post(_sub_url(sub, "/favorites"), json=body, headers=h), 400)["errors"]
    assert key in _problem(api.c.delete(_sub_url(sub, "/favorites"), json=body, headers=h), 400)["errors"]
    assert _favorites(api, sub) == []


def test_at_most_fifty_favourite_shops(api, container):
    # A merchant has at most max_shops_per_merchant (20) shops: the 51 are three merchants'.
    keys = [api.merchant()["api_key"] for _ in range(3)]
    ids = [api.shop(keys[i // 20], lat=45.46 + i / 1000, lon=9.19)["id"] for i in range(MAX_FAVORITES + 1)]
    sub = api.subscriber()
    for shop_id in ids[:MAX_FAVORITES]:
        assert _follow(api, sub, shop_id).status_code == 201
    body = _problem(_follow(api, sub, ids[-1]), 422)
    assert "shop_id" in body["errors"] and "50" in body["errors"]["shop_id"][0]
    # Following one already followed is still fine at the cap, and unfollowing makes room.
    assert _follow(api, sub, ids[0]).status_code == 200
    assert len(_favorites(api, sub)) == MAX_FAVORITES
    assert api.c.delete(_sub_url(sub, f"/favorites/{ids[0]}"), headers=api.h(sub["secret"])).status_code == 204
    assert _follow(api, sub, ids[-1]).status_code == 201


def test_another_residents_favourites_are_a_404_like_a_missing_resident(api, shops):
    owner, other = api.subscriber(), api.subscriber()
    assert _follow(api, owner, shops[0]["id"]).status_code == 201
    missing = {"id": "sub_000000000000000000000000", "secret": other["secret"]}
    h = api.h(other["secret"])
    calls = [
        lambda s: api.c.get(_sub_url(s, "/favorites"), headers=h),
        lambda s: api.c.post(_sub_url(s, "/favorites"), json={"shop_id": shops[1]["id"]}, headers=h),
        lambda s: api.c.delete(_sub_url(s, f"/favorites/{shops[0]['id']}"), headers=h),
        lambda s: api.c.delete(_sub_url(s, "/favorites"), json={"shop_id": shops[0]["id"]}, headers=h),
    ]
    for call in calls:
        body = _problem(call(owner), 404)
        assert body == _problem(call(missing), 404)
        assert owner["id"] not in str(body)
    assert [i["shop_id"] for i in _favorites(api, owner)] == [shops[0]["id"]]
    assert _favorites(api, other) == []

    for headers, status in ((api.h(ADMIN_TOKEN), 403), ({}, 401), (api.h("dss_" + "A" * 43), 401)):
        _problem(api.c.get(_sub_url(owner, "/favorites"), headers=headers), status)
        _problem(api.c.post(_sub_url(owner, "/favorites"), json={"shop_id": shops[1]["id"]}, headers=headers), status)
        _problem(api.c.delete(_sub_url(owner, f"/favorites/{shops[0]['id']}"), headers=headers), status)


# --- unsubscribing ------------------------------------------------------------------------


def test_unsubscribing_wipes_places_and_favourites(api, container, shops):
    sub = api.subscriber(places=[WORK, MUM], price_drops=True)
    stays = api.subscriber(places=[MUM])
    for s in (sub, stays):
        assert _follow(api, s, shops[0]["id"]).status_code == 201
    with container.db.read() as s:
        pk = s.scalar(select(Subscriber.pk).where(Subscriber.id == sub["id"]))

    assert api.c.delete(_sub_url(sub), headers=api.h(sub["secret"])).status_code == 204

    with container.db.read() as s:
        assert s.scalar(select(func.count()).select_from(SubscriberPlace).where(SubscriberPlace.subscriber_pk == pk)) == 0
        assert s.scalar(select(func.count()).select_from(Favorite).where(Favorite.subscriber_pk == pk)) == 0
        assert s.scalar(select(Subscriber.price_drops).where(Subscriber.pk == pk)) is False
    # The secret died with the subscription; the neighbour keeps everything.
    _problem(api.c.get(_sub_url(sub, "/favorites"), headers=api.h(sub["secret"])), 401)
    assert [p["label"] for p in _get(api, stays)["places"]] == ["mum"]
    assert [i["shop_id"] for i in _favorites(api, stays)] == [shops[0]["id"]]
