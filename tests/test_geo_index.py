"""The in-memory reverse radius index agrees with the exact geodesic answer and follows the
database as residents come, move and go."""
from __future__ import annotations

import random

from geographiclib.geodesic import Geodesic

from dealsvc.adapters.db.models import Subscriber
from dealsvc.adapters.geo_index import SubscriberIndex

MILAN = (45.4642, 9.1900)


def active_subscribers(container) -> list[tuple]:
    with container.db.read() as s:
        return [
            (sub.pk, sub.lat, sub.lon, sub.radius_m, list(sub.categories))
            for sub in s.query(Subscriber).filter(Subscriber.active.is_(True))
        ]


def brute_force(subs, lat, lon, cap, category=None) -> set[int]:
    return {
        pk
        for pk, s_lat, s_lon, radius, cats in subs
        if Geodesic.WGS84.Inverse(lat, lon, s_lat, s_lon)["s12"] <= min(radius, cap)
        and (not cats or category is None or category in cats)
    }


def test_index_matches_the_exact_answer(api, container):
    rng = random.Random(7)
    for _ in range(300):
        lat = MILAN[0] + rng.uniform(-0.08, 0.08)
        lon = MILAN[1] + rng.uniform(-0.1, 0.1)
        cats = rng.choice([[], ["bakery"], ["dairy", "produce"]])
        api.subscriber(lat=lat, lon=lon, radius_m=rng.randint(300, 5000), categories=cats)
    index = SubscriberIndex(container.db, container.clock)
    index.refresh()
    subs = active_subscribers(container)
    for _ in range(20):
        lat = MILAN[0] + rng.uniform(-0.05, 0.05)
        lon = MILAN[1] + rng.uniform(-0.05, 0.05)
        for category in (None, "bakery", "dairy"):
            for cap in (5000, 1500):
                got = set(index.match(lat, lon, cap, category).tolist())
                assert got == brute_force(subs, lat, lon, cap, category)


def test_index_sees_new_moved_and_gone_residents_without_a_rebuild(api, client, container):
    index = SubscriberIndex(container.db, container.clock)
    index.refresh()
    shop = MILAN
    assert index.count(*shop, 5000) == 0

    near = api.subscriber(lat=45.4650, lon=9.1900, radius_m=500)
    index.refresh()
    assert index.count(*shop, 5000) == 1

    # Moving 3 km away takes them out of reach.
    r = client.patch(
        f"/api/v1/subscribers/{near['id']}",
        json={"lat": 45.4912, "lon": 9.1900},
        headers={"Authorization": f"Bearer {near['secret']}"},
    )
    assert r.status_code == 200
    index.refresh()
    assert index.count(*shop, 5000) == 0

    # Widening the radius brings them back.
    client.patch(
        f"/api/v1/subscribers/{near['id']}",
        json={"radius_m": 4000},
        headers={"Authorization": f"Bearer {near['secret']}"},
    )
    index.refresh()
    assert index.count(*shop, 5000) == 1
    assert index.count(*shop, 2000) == 0  # the operator's cap still applies

    # Unsubscribing removes them.
    r = client.delete(f"/api/v1/subscribers/{near['id']}", headers={"Authorization": f"Bearer {near['secret']}"})
    assert r.status_code == 204
    index.refresh()
    assert index.count(*shop, 5000) == 0


def test_index_is_exact_near_the_antimeridian_the_poles_and_class_edges():
    from dealsvc.adapters.geo_index import _Arrays

    rng = random.Random(11)
    g = Geodesic.WGS84
    for centre in [(0.0, 179.99), (70.0, -179.95), (-45.0, 10.0), (88.5, 30.0), (-89.0, 0.0)]:
        rows = []
        for pk in range(1500):
            spot = g.Direct(centre[0], centre[1], rng.uniform(0, 360), rng.uniform(0, 12_000))
            # Radii on and around the class edges (1, 2.5, 5, 10 km) as well as anywhere.
            radius = rng.choice([1000, 2500, 5000, 10_000, rng.uniform(300, 12_000)])
            rows.append((pk, spot["lat2"], spot["lon2"], radius, 0))
        arrays = _Arrays.build(rows)
        for _ in range(5):
            shop = g.Direct(centre[0], centre[1], rng.uniform(0, 360), rng.uniform(0, 3000))
            lat, lon = shop["lat2"], shop["lon2"]
            for cap in (50_000, 4000):
                got = set(SubscriberIndex._match_arrays(arrays, lat, lon, cap, 0, {}).tolist())
                want = {pk for pk, a, b, r, _ in rows if g.Inverse(lat, lon, a, b)["s12"] <= min(r, cap)}
                assert got == want, (centre, cap)
