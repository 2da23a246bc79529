"""Geodesic edges against geographiclib: within(), the flat approximation's domain, reach boxes, the API."""
from __future__ import annotations

import pytest
from geographiclib.geodesic import Geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from dealsvc.domain import geo
from tests.support.api import ADMIN_TOKEN

WGS84 = Geodesic.WGS84
BEARINGS = [0, 45, 90, 135, 180, 225, 270, 315, 17.3]
RADII = [300, 1000, 5000, 10_000]
PLACES = {
    "equator": (0.0, 9.19),
    "milan": (45.4642, 9.19),
    "45N": (45.0, 0.0),
    "tromso": (69.65, 18.96),
    "70N": (70.0, 25.0),
    "svalbard": (78.22, 15.65),
    "80N": (80.0, -40.0),
    "near the pole": (89.95, 0.0),
    "sydney": (-33.87, 151.21),
    "ushuaia": (-54.8, -68.3),
    "70S": (-70.0, 2.5),
    "antimeridian east": (0.5, 179.999),
    "fiji across the antimeridian": (-17.7, -179.995),
    "chukotka": (66.0, 179.99),
}


def destination(lat: float, lon: float, bearing: float, distance_m: float) -> tuple[float, float]:
    p = WGS84.Direct(lat, lon, bearing, distance_m)
    return p["lat2"], p["lon2"]


@pytest.mark.parametrize("radius", RADII)
@pytest.mark.parametrize("place", PLACES.values(), ids=PLACES.keys())
def test_half_a_metre_inside_is_within_and_half_a_metre_outside_is_not(place, radius):
    lat, lon = place
    for bearing in BEARINGS:
        inside = destination(lat, lon, bearing, radius - 0.5)
        outside = destination(lat, lon, bearing, radius + 0.5)
        assert geo.within(lat, lon, *inside, radius), (bearing, "inside")
        assert geo.within(*inside, lat, lon, radius), (bearing, "inside, seen from the other end")
        assert not geo.within(lat, lon, *outside, radius), (bearing, "outside")
        assert not geo.within(*outside, lat, lon, radius), (bearing, "outside, seen from the other end")
        # On the circle itself counts as within (<=), to the precision of the placement.
        assert geo.within(lat, lon, *destination(lat, lon, bearing, radius - 1e-6), radius)


def test_a_haversine_answer_would_be_wrong_where_the_geodesic_one_is_right():
    # North-south at 45 degrees a sphere of mean radius overestimates 10 km by about 20 m:
    # a resident 10 m inside their radius must still count.
    lat, lon = 45.0, 9.0
    inside = destination(lat, lon, 0, 9_990)
    assert geo.within(lat, lon, *inside, 10_000)
    assert geo.distance_m(lat, lon, *inside) == pytest.approx(9_990, abs=1e-6)


def test_the_flat_approximation_stays_within_1e_5_of_the_geodesic_where_it_is_trusted():
    limit_lat, limit_m = geo._FLAT_LIMIT_LAT, geo._FLAT_LIMIT_M
    worst = 0.0
    # Every degree, and closely spaced where the error is largest: next to the limit.
    edge = [limit_lat - d for d in (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5)]
    lats = list(range(-int(limit_lat), int(limit_lat) + 1)) + edge + [-x for x in edge]
    for lat in lats:
        for distance in (10.0, 1_000.0, 10_000.0, 18_000.0, 20_000.0):
            for bearing in range(0, 360, 10):
                lat2, lon2 = destination(lat, 9.0, bearing, distance)
                approx = geo.approx_m(lat, 9.0, lat2, lon2)
                if abs(lat2) > limit_lat or approx > limit_m:
                    continue  # outside the domain the exact geodesic decides alone
                worst = max(worst, abs(approx - distance) / distance)
    assert worst < 1e-5, worst
    # and the band where the geodesic decides is at least ten times the error
    assert geo._RELATIVE_BAND >= 10 * 1e-5
    assert limit_lat >= 70 and limit_m >= 20_000


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(-geo._FLAT_LIMIT_LAT, geo._FLAT_LIMIT_LAT),
    lon=st.floats(-180, 180),
    bearing=st.floats(0, 360),
    distance=st.floats(1, 20_000),
)
def test_the_flat_approximation_bound_holds_anywhere_in_its_domain(lat, lon, bearing, distance):
    lat2, lon2 = destination(lat, lon, bearing, distance)
    approx = geo.approx_m(lat, lon, lat2, lon2)
    if abs(lat2) <= geo._FLAT_LIMIT_LAT and approx <= geo._FLAT_LIMIT_M:
        assert abs(approx - distance) <= 1e-5 * distance


@settings(max_examples=1000, deadline=None)
@given(
    lat=st.one_of(st.floats(-90, 90), st.sampled_from([-90.0, -89.5, -88.9, 0.0, 88.9, 89.5, 90.0])),
    lon=st.one_of(st.floats(-180, 180), st.sampled_from([-180.0, -179.99, 179.99, 180.0])),
    radius=st.one_of(st.floats(0, 50_000), st.sampled_from([300.0, 1_000.0, 5_000.0, 10_000.0, 50_000.0])),
    bearing=st.floats(0, 360),
    fraction=st.one_of(st.floats(0, 1), st.just(1.0)),
)
def test_a_reach_box_holds_every_point_of_its_disc(lat, lon, radius, bearing, fraction):
    box = geo.reach_box(lat, lon, radius)
    point = destination(lat, lon, bearing, radius * fraction)
    assert box.contains(*point), (box, point)


# --- through the API -------------------------------------------------------------------

CENTRE = (45.4642, 9.19)


def reach(api, lat: float, lon: float) -> int:
    r = api.c.get("/api/v1/admin/reach", query_string={"lat": repr(lat), "lon": repr(lon)}, headers=api.h(ADMIN_TOKEN))
    assert r.status_code == 200, r.json
    return r.json["subscribers"]


def resident(api, bearing: float, distance: float, radius: int) -> dict:
    lat, lon = destination(*CENTRE, bearing, distance)
    return api.subscriber(lat=lat, lon=lon, radius_m=radius)


def test_reach_counts_a_resident_half_a_metre_inside_their_radius_and_not_one_half_a_metre_outside(api):
    inside = [(0, 1000), (90, 300), (135, 4000), (250, 1000), (315, 5000)]
    for bearing, radius in inside:
        resident(api, bearing, radius - 0.5, radius)
        resident(api, bearing + 7, radius + 0.5, radius)
    assert reach(api, *CENTRE) == len(inside)


def test_the_operators_max_radius_caps_a_residents_own_radius(api):
    resident(api, 30, 2_500, 3_000)
    resident(api, 120, 1_999.5, 3_000)
    resident(api, 200, 2_000.5, 3_000)
    assert reach(api, *CENTRE) == 3

    api.rules(max_radius_m=2_000)
    assert reach(api, *CENTRE) == 1  # only the one 1999.5 m away

    api.rules(max_radius_m=5_000)
    assert reach(api, *CENTRE) == 3


def test_deals_lists_a_shop_half_a_metre_inside_the_radius_and_not_one_half_a_metre_outside(api):
    key = api.merchant()["api_key"]
    near = api.shop(key, *destination(*CENTRE, 60, 999.5))
    far = api.shop(key, *destination(*CENTRE, 240, 1_000.5))
    near_offer = api.offer(key, near["id"])
    api.offer(key, far["id"])

    r = api.c.get("/api/v1/deals", query_string={"lat": repr(CENTRE[0]), "lon": repr(CENTRE[1]), "radius_m": 1000})
    assert r.status_code == 200, r.json
    assert [item["id"] for item in r.json["items"]] == [near_offer["id"]]
    assert r.json["items"][0]["distance_m"] == pytest.approx(999.5, abs=0.1)


def test_approx_m_stays_within_a_tenth_of_the_rounding_bound_up_to_20_km_and_75_degrees():
    """distance_shown_m trusts approx_m within a bound ten times the error measured here."""
    import math
    import random

    rng = random.Random(2)
    for _ in range(50_000):
        lat, lon = rng.uniform(-75, 75), rng.uniform(-180, 180)
        d = rng.choice([rng.uniform(0, 20_000), rng.uniform(0, 1_000), rng.uniform(0, 5)])
        p = Geodesic.WGS84.Direct(lat, lon, rng.uniform(0, 360), d)
        if abs(p["lat2"]) > 75:
            continue
        s = geo.geodesic_m(lat, lon, p["lat2"], p["lon2"])
        t = math.tan(math.radians(max(abs(lat), abs(p["lat2"]))))
        bound = geo._ROUNDING_ERROR_COEFF * (1 + 4.6 * t * t) * (s / 1000) ** 2 * s + geo._ROUNDING_ERROR_ABS_M
        assert abs(geo.approx_m(lat, lon, p["lat2"], p["lon2"]) - s) <= bound / 5, (lat, lon, p)


@given(
    lat=st.floats(-89.9, 89.9),
    lon=st.floats(-180, 180),
    bearing=st.floats(0, 360),
    tenths=st.integers(0, 300_000),
    nudge=st.sampled_from([-1e-4, -1e-6, 0.0, 1e-6, 1e-4, 0.03]),
)
@settings(max_examples=3_000, deadline=None)
def test_the_distance_shown_is_the_geodesic_rounded_to_a_tenth_even_next_to_a_rounding_edge(lat, lon, bearing, tenths, nudge):
    # Distances a hair either side of x.x5, where rounding turns; up to 30 km and near the poles,
    # beyond what the approximation is trusted with.
    p = Geodesic.WGS84.Direct(lat, lon, bearing, tenths / 10 + 0.05 + nudge)
    expected = round(geo.geodesic_m(lat, lon, p["lat2"], p["lon2"]), 1)
    assert geo.distance_shown_m(lat, lon, p["lat2"], p["lon2"]) == expected
    assert str(geo.distance_shown_m(lat, lon, lat, lon)) == "0.0"  # never -0.0


@pytest.mark.parametrize("place", PLACES)
def test_the_distances_shown_from_one_point_to_many_are_each_the_geodesic_rounded_to_a_tenth(place):
    """distances_shown_m (a wave's residents at once) gives what distance_shown_m gives each,
    next to rounding edges too, and beyond the approximation's domain."""
    import random

    import numpy as np

    lat, lon = PLACES[place]
    rng = random.Random(place)
    points = []
    for _ in range(2_000):
        tenths = rng.choice([rng.randrange(0, 20_000), rng.randrange(0, 300_000)])
        nudge = rng.choice([-1e-4, -1e-6, 0.0, 1e-6, 1e-4, 0.03])
        p = WGS84.Direct(lat, lon, rng.uniform(0, 360), tenths / 10 + 0.05 + nudge)
        points.append((p["lat2"], p["lon2"]))
    points.append((lat, lon))
    lats, lons = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    shown = geo.distances_shown_m(lat, lon, lats, lons)
    assert shown == [round(geo.geodesic_m(lat, lon, a, b), 1) for a, b in points]
    assert shown == [geo.distance_shown_m(lat, lon, a, b) for a, b in points]
    assert str(shown[-1]) == "0.0"
