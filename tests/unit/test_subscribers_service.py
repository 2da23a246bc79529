"""SubscriberService on the in-memory store: signing up, changing one's settings, what the
export holds, and leaving, without a database."""
from datetime import timedelta

import pytest

from dealsvc.domain.errors import NotFound, RuleViolation, Unauthorized
from dealsvc.services.auth import SUBSCRIBER, AuthService, Principal
from dealsvc.services.rules import RulesService
from dealsvc.services.subscribers import SubscriberService
from tests.support.api import ADMIN_TOKEN
from tests.support.contracts import T0
from tests.support.fakes import Clock, MemoryStore


def zone_at(lat: float, lon: float) -> str:
    return "Europe/Rome" if lon > 7 else "Europe/Paris"


@pytest.fixture
def world():
    # The operator's rules as shipped, read from the store like any other row (default radius
    # 1000 m, at most 5000 m).
    store, clock = MemoryStore(), Clock()
    return SubscriberService(store, clock, RulesService(store, clock), zone_at, "it"), store, clock


def _me(view) -> Principal:
    return Principal("subscriber", view["id"])


def test_signing_up_again_with_the_same_phone_retires_the_older_subscription(world):
    subscribers, store, clock = world
    first = subscribers.register({"fcm_token": "tok-phone", "lat": 45.46, "lon": 9.19}, "fr-CH, fr;q=0.9")
    assert (first["radius_m"], first["timezone"], first["locale"], first["active"]) == (1000, "Europe/Rome", "fr", True)
    assert first["secret"]
    clock.now += timedelta(minutes=5)
    second = subscribers.register({
        "fcm_token": "tok-phone", "lat": 48.85, "lon": 2.35, "radius_m": 2000,
        "places": [{"label": "work", "lat": 48.86, "lon": 2.34, "days": ["mon", "tue"], "hours": {"start": "09:00", "end": "18:00"}},
                   {"label": "gym", "lat": 48.87, "lon": 2.33, "radius_m": 300}],
    })
    assert (second["timezone"], second["locale"], second["radius_m"]) == ("Europe/Paris", "it", 2000)
    assert [(p["label"], p["radius_m"], p["hours"]) for p in second["places"]] == [
        ("work", 1000, {"start": "09:00", "end": "18:00"}), ("gym", 300, None)]
    older = store.tables.subscribers[first["id"]]
    assert (older.active, older.deactivated_at) == (False, clock.now)
    assert store.tables.subscribers[second["id"]].active is True


def test_a_radius_beyond_the_largest_is_refused_and_nothing_changes(world):
    subscribers, store, _ = world
    me = subscribers.register({"fcm_token": "tok-1", "lat": 45.46, "lon": 9.19})
    with pytest.raises(RuleViolation) as refused:
        subscribers.update(_me(me), me["id"], {"lat": 48.85, "lon": 2.35, "places": [
            {"label": "far", "lat": 45.0, "lon": 9.0, "radius_m": 6000}]})
    assert list(refused.value.errors) == ["places.0.radius_m"]
    assert subscribers.get(_me(me), me["id"]) == {k: v for k, v in me.items() if k != "secret"}


def test_moving_brings_the_zone_along_until_the_resident_sends_one(world):
    subscribers, _, clock = world
    me = subscribers.register({"fcm_token": "tok-1", "lat": 45.46, "lon": 9.19})
    clock.now += timedelta(hours=1)
    moved = subscribers.update(_me(me), me["id"], {"lat": 48.85, "lon": 2.35, "radius_m": None, "places": [
        {"label": "work", "lat": 48.86, "lon": 2.34}]})
    assert (moved["timezone"], moved["radius_m"], [p["label"] for p in moved["places"]]) == ("Europe/Paris", 1000, ["work"])
    subscribers.update(_me(me), me["id"], {"timezone": "Europe/London"})
    kept = subscribers.update(_me(me), me["id"], {"lat": 45.46, "lon": 9.19})
    assert (kept["timezone"], [p["label"] for p in kept["places"]]) == ("Europe/London", ["work"])


def test_a_new_token_wakes_a_deactivated_subscription_and_retires_its_other_holder(world):
    subscribers, store, clock = world
    me = subscribers.register({"fcm_token": "tok-old", "lat": 45.46, "lon": 9.19})
    other = subscribers.register({"fcm_token": "tok-new", "lat": 45.46, "lon": 9.19})
    mine = store.tables.subscribers[me["id"]]
    mine.active, mine.deactivated_at = False, T0
    clock.now += timedelta(days=1)
    woken = subscribers.update(_me(me), me["id"], {"fcm_token": "tok-new"})
    assert woken["active"] is True and mine.deactivated_at is None and mine.token_seen_at == clock.now
    assert store.tables.subscribers[other["id"]].active is False


def test_leaving_wipes_places_favourites_and_token_and_the_resident_is_gone(world):
    subscribers, store, clock = world
    store.add_shop("shp_1")
    me = subscribers.register({"fcm_token": "tok-1", "lat": 45.46, "lon": 9.19, "categories": ["bakery"],
                               "places": [{"label": "work", "lat": 45.47, "lon": 9.2}]})
    pk = store.tables.subscribers[me["id"]].pk
    with store.write() as q:
        q.add_favorite(pk, "shp_1", T0)
    with pytest.raises(NotFound):
        subscribers.delete(Principal("subscriber", "sub_someone_else"), me["id"])
    clock.now += timedelta(minutes=1)
    subscribers.delete(_me(me), me["id"])
    gone = store.tables.subscribers[me["id"]]
    assert (gone.places, gone.fcm_token, gone.categories, gone.active, gone.deleted_at) == ([], "", [], False, clock.now)
    assert store.tables.favorites == {}
    with pytest.raises(NotFound):
        subscribers.get(_me(me), me["id"])


def test_the_export_holds_the_residents_own_pushes_and_holds_and_the_secret_signs_in_until_they_leave(world):
    subscribers, store, clock = world
    auth = AuthService(store, ADMIN_TOKEN, clock)
    store.add_shop("shp_1")
    store.add_offer("off_1", "shp_1", T0, title="Focaccia")
    me = subscribers.register({"fcm_token": "tok-1", "lat": 45.46, "lon": 9.19})
    other = subscribers.register({"fcm_token": "tok-2", "lat": 45.46, "lon": 9.19})
    my_pk, their_pk = (store.tables.subscribers[s["id"]].pk for s in (me, other))
    store.add_push("off_1", my_pk, T0 + timedelta(minutes=1), kind="withdraw")
    store.add_push("off_1", my_pk, T0, distance_m=120.0)
    store.add_push("off_1", their_pk, T0)
    store.add_hold("off_1", my_pk, T0)
    assert auth.authenticate(me["secret"]) == Principal(SUBSCRIBER, me["id"])

    exported = subscribers.export(_me(me), me["id"])
    assert [(a["offer_title"], a["shop_id"], a["kind"], a["distance_m"]) for a in exported["alerts"]] == [
        ("Focaccia", "shp_1", "alert", 120.0), ("Focaccia", "shp_1", "withdraw", None)]
    assert [(r["offer_id"], r["status"]) for r in exported["reservations"]] == [("off_1", "held")]
    with pytest.raises(NotFound):
        subscribers.export(_me(other), me["id"])

    subscribers.delete(_me(me), me["id"])
    with pytest.raises(Unauthorized):
        auth.authenticate(me["secret"])
    assert auth.authenticate(other["secret"]) == Principal(SUBSCRIBER, other["id"])
