"""The in-memory reverse radius index agrees with the exact geodesic answer and follows the
database as residents come, move and go."""
from __future__ import annotations

import random

from geographiclib.geodesic import Geodesic

from dealsvc.adapters.db.models import Subscriber
from dealsvc.adapters.spatial import SLOTS, SubscriberIndex
from dealsvc.domain.categories import CATEGORIES

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
    from dealsvc.adapters.spatial import PlaceArrays

    rng = random.Random(11)
    g = Geodesic.WGS84
    for centre in [(0.0, 179.99), (70.0, -179.95), (-45.0, 10.0), (88.5, 30.0), (-89.0, 0.0)]:
        rows = []
        for pk in range(1500):
            spot = g.Direct(centre[0], centre[1], rng.uniform(0, 360), rng.uniform(0, 12_000))
            # Radii on and around the class edges (1, 2.5, 5, 10 km) as well as anywhere.
            radius = rng.choice([1000, 2500, 5000, 10_000, rng.uniform(300, 12_000)])
            rows.append((pk, spot["lat2"], spot["lon2"], radius, 0))
        arrays = PlaceArrays.build(rows)
        for _ in range(5):
            shop = g.Direct(centre[0], centre[1], rng.uniform(0, 360), rng.uniform(0, 3000))
            lat, lon = shop["lat2"], shop["lon2"]
            for cap in (50_000, 4000):
                got = set(arrays.pk[SubscriberIndex._match_arrays(arrays, lat, lon, cap, 0, None)].tolist())
                want = {pk for pk, a, b, r, _ in rows if g.Inverse(lat, lon, a, b)["s12"] <= min(r, cap)}
                assert got == want, (centre, cap)


def test_both_ways_of_loading_read_the_same_arrays(container):
    """PostgreSQL loads with a binary COPY and computes the category bits itself; every engine
    can stream rows instead. Both must read the same residents with the same bits."""
    from datetime import timedelta

    import numpy as np

    from dealsvc.adapters.spatial import category_mask, load_active, load_active_streamed

    def load_both():
        with container.db.read() as s:
            return load_active(s), load_active_streamed(s)

    for arrays in load_both():  # no residents at all
        assert len(arrays.pk) == 0

    rng = random.Random(3)
    now = container.clock()
    interests = [[], ["bakery"], ["dairy", "produce"], ["other"], ["bakery", "toys"], ["toys"], list(CATEGORIES)]
    with container.db.write() as s:
        for i in range(400):
            s.add(
                Subscriber(
                    id=f"sub_load{i}", secret_hash=f"{i:064x}", fcm_token=f"tok-{i}",
                    lat=MILAN[0] + rng.uniform(-0.1, 0.1), lon=MILAN[1] + rng.uniform(-0.1, 0.1),
                    radius_m=rng.randint(300, 10_000), categories=rng.choice(interests),
                    timezone="Europe/Rome", active=i % 7 != 0,
                    created_at=now - timedelta(days=1), updated_at=now - timedelta(days=1),
                )
            )
    with container.db.read() as s:
        want = {
            sub.pk * SLOTS: (sub.lat, sub.lon, float(sub.radius_m), category_mask(sub.categories))
            for sub in s.query(Subscriber).filter(Subscriber.active.is_(True))
        }
    first, second = load_both()
    for arrays in (first, second):
        got = {
            int(pk): (float(a), float(b), float(r), int(c))
            for pk, a, b, r, c in zip(arrays.pk, arrays.lat, arrays.lon, arrays.radius, arrays.cats)
        }
        assert got == want
    for name in ("pk", "lat", "lon", "radius", "cats", "group_keys", "group_starts", "class_max_radius"):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name


def test_rows_changed_since_the_build_match_exactly_too(api, client, container):
    """Residents who joined, moved or left after the arrays were built are matched from the
    changed rows (with their categories and the cap), and hide their old place in the arrays."""
    rng = random.Random(17)

    def join(n):
        return [
            api.subscriber(
                lat=MILAN[0] + rng.uniform(-0.06, 0.06), lon=MILAN[1] + rng.uniform(-0.08, 0.08),
                radius_m=rng.randint(300, 5000), categories=rng.choice([[], ["bakery"], ["dairy", "produce"]]),
            )
            for _ in range(n)
        ]

    before = join(120)
    index = SubscriberIndex(container.db, container.clock)
    index.refresh()
    join(120)
    for sub in before[:30]:  # some move, some widen, some leave
        headers = {"Authorization": f"Bearer {sub['secret']}"}
        change = rng.choice(["move", "radius", "leave"])
        if change == "leave":
            assert client.delete(f"/api/v1/subscribers/{sub['id']}", headers=headers).status_code == 204
        else:
            body = {"radius_m": 4900} if change == "radius" else {"lat": MILAN[0] + 0.03, "lon": MILAN[1]}
            assert client.patch(f"/api/v1/subscribers/{sub['id']}", json=body, headers=headers).status_code == 200
    index.refresh()
    assert index._changes is not None and len(index._changes.rows) >= 150
    subs = active_subscribers(container)
    for _ in range(15):
        lat, lon = MILAN[0] + rng.uniform(-0.04, 0.04), MILAN[1] + rng.uniform(-0.05, 0.05)
        for category in (None, "bakery", "dairy"):
            for cap in (5000, 1500):
                got = index.match(lat, lon, cap, category).tolist()
                assert len(got) == len(set(got))
                assert set(got) == brute_force(subs, lat, lon, cap, category)


def _places_of_everyone(container, now) -> dict[int, list[tuple]]:
    """pk -> the places that count at `now`: (lat, lon, radius), with categories."""
    from dealsvc.adapters.db.models import SubscriberPlace
    from dealsvc.domain import places as place_rules

    with container.db.read() as s:
        subs = {sub.pk: sub for sub in s.query(Subscriber).filter(Subscriber.active.is_(True))}
        found = {pk: [(sub.lat, sub.lon, sub.radius_m, list(sub.categories))] for pk, sub in subs.items()}
        for p in s.query(SubscriberPlace):
            sub = subs.get(p.subscriber_pk)
            if sub is not None and place_rules.counts_at(now, sub.timezone, p.days, p.hours_start, p.hours_end):
                found[p.subscriber_pk].append((p.lat, p.lon, p.radius_m, list(sub.categories)))
    return found


def _nearest_brute(found, lat, lon, cap, category=None) -> dict[int, float]:
    """pk -> geodesic distance from the nearest place holding the point."""
    best: dict[int, float] = {}
    for pk, spots in found.items():
        for s_lat, s_lon, radius, cats in spots:
            d = Geodesic.WGS84.Inverse(lat, lon, s_lat, s_lon)["s12"]
            if d <= min(radius, cap) and (not cats or category is None or category in cats):
                best[pk] = min(best.get(pk, d), d)
    return best


def _random_places(rng, count: int) -> list[dict]:
    made = []
    for i in range(count):
        hours = rng.choice([None, {"start": "09:00", "end": "17:00"}, {"start": "22:00", "end": "02:00"}])
        days = rng.choice([None, ["mon", "tue", "wed", "thu", "fri"], ["sat", "sun"]])
        place = {"label": f"place {i}", "lat": MILAN[0] + rng.uniform(-0.06, 0.06),
                 "lon": MILAN[1] + rng.uniform(-0.08, 0.08), "radius_m": rng.randint(300, 4000)}
        if hours:
            place["hours"] = hours
        if days:
            place["days"] = days
        made.append(place)
    return made


def test_extra_places_match_exactly_in_their_hours_and_each_resident_once_at_the_nearest(api, client, container):
    from datetime import datetime, timezone

    import numpy as np

    rng = random.Random(23)
    # A Wednesday 10:00 in Rome: weekday places with 09:00-17:00 count, weekend ones do not.
    # (The index follows the database on the real clock; the time asked about is given.)
    when = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)

    def join(n):
        return [
            api.subscriber(
                lat=MILAN[0] + rng.uniform(-0.06, 0.06), lon=MILAN[1] + rng.uniform(-0.08, 0.08),
                radius_m=rng.randint(300, 4000), categories=rng.choice([[], ["bakery"], ["dairy"]]),
                timezone=rng.choice(["Europe/Rome", "America/New_York"]), places=_random_places(rng, rng.randint(0, 2)),
            )
            for _ in range(n)
        ]

    before = join(150)
    index = SubscriberIndex(container.db, container.clock)
    index.refresh()

    def check(times: int):
        found = _places_of_everyone(container, when)
        for _ in range(times):
            lat, lon = MILAN[0] + rng.uniform(-0.04, 0.04), MILAN[1] + rng.uniform(-0.05, 0.05)
            for category in (None, "bakery"):
                want = _nearest_brute(found, lat, lon, 5000, category)
                got = index.match(lat, lon, 5000, category, at=when)
                assert sorted(got.tolist()) == sorted(want)
                reached = index.nearest(lat, lon, 5000, category, at=when)
                assert sorted(reached.pk.tolist()) == sorted(want)  # once each
                assert np.all(np.diff(reached.distance_m) >= 0)  # nearest first
                for pk, d in zip(reached.pk.tolist(), reached.distance_m.tolist()):
                    assert abs(d - want[pk]) < 0.01

    check(10)
    # After the build: new residents with places, and old ones who change or drop theirs.
    join(60)
    for sub in before[:40]:
        body = {"places": _random_places(rng, rng.randint(0, 2))}
        r = client.patch(f"/api/v1/subscribers/{sub['id']}", json=body, headers={"Authorization": f"Bearer {sub['secret']}"})
        assert r.status_code == 200, r.json
    index.refresh()
    assert index._changes is not None
    check(10)
    # Hours are read at the time asked: at 03:00 in Rome on a Saturday only main places and the
    # overnight weekend places of Friday night count.
    when = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)
    check(5)
