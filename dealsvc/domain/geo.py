"""Distances on the WGS-84 ellipsoid: exact geodesics where it matters, cheap bounds elsewhere.

"Within a radius" means the geodesic distance (geographiclib, what geopy.distance.geodesic
computes) is <= the radius. A local flat approximation on the ellipsoid decides every case that
is clearly inside or outside; only points whose approximate distance falls in a thin band
around the radius pay for the exact geodesic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from geographiclib.geodesic import Geodesic

_WGS84 = Geodesic.WGS84
_A = _WGS84.a  # equatorial radius, metres
_E2 = _WGS84.f * (2 - _WGS84.f)  # first eccentricity squared

# The flat approximation's error grows with the square of the distance and towards the poles.
# Measured against geographiclib (tests/integration/test_geo.py holds it to this): below 1e-5 of the
# distance up to 20 km at latitudes up to 75 degrees (5.2e-6 at worst; at 80 degrees it reaches
# 1.2e-5). The band is ten times wider, so only the exact geodesic ever decides a close call;
# outside that domain the geodesic decides everything.
_RELATIVE_BAND = 1e-4
_ABSOLUTE_BAND_M = 0.05
_FLAT_LIMIT_M = 20_000.0
_FLAT_LIMIT_LAT = 75.0


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The exact geodesic distance in metres on WGS-84."""
    return _WGS84.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)["s12"]


def _radii(lat_deg: float) -> tuple[float, float]:
    """Meridional (M) and prime-vertical (N) radii of curvature at a latitude."""
    s = math.sin(math.radians(lat_deg))
    w = 1 - _E2 * s * s
    n = _A / math.sqrt(w)
    m = _A * (1 - _E2) / (w * math.sqrt(w))
    return m, n


def approx_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Local flat distance on the ellipsoid at the mid-latitude: millimetres off within 10 km."""
    mid = (lat1 + lat2) / 2
    m, n = _radii(mid)
    dlon = (lon2 - lon1 + 180.0) % 360.0 - 180.0
    dy = math.radians(lat2 - lat1) * m
    dx = math.radians(dlon) * n * math.cos(math.radians(mid))
    return math.hypot(dx, dy)


def approx_many(lat: float, lon: float, lats, lons):
    """`approx_m` from one point to many (numpy arrays): the same formula, to the last bits or
    so (numpy's sin and hypot may round differently from math's)."""
    import numpy as np

    mid = (lats + lat) / 2
    s = np.sin(np.radians(mid))
    w = 1 - _E2 * s * s
    n = _A / np.sqrt(w)
    m = _A * (1 - _E2) / (w * np.sqrt(w))
    dlon = np.remainder(lons - lon + 180.0, 360.0) - 180.0
    dy = np.radians(lats - lat) * m
    dx = np.radians(dlon) * n * np.cos(np.radians(mid))
    return np.hypot(dx, dy)


def within(lat1: float, lon1: float, lat2: float, lon2: float, radius_m: float) -> bool:
    """True when the geodesic distance is <= radius_m, with the same answer as geographiclib."""
    d = approx_m(lat1, lon1, lat2, lon2)
    band = _ABSOLUTE_BAND_M + _RELATIVE_BAND * d
    if d <= _FLAT_LIMIT_M and abs(lat1) <= _FLAT_LIMIT_LAT and abs(lat2) <= _FLAT_LIMIT_LAT:
        if d + band < radius_m:
            return True
        if d - band > radius_m:
            return False
    return geodesic_m(lat1, lon1, lat2, lon2) <= radius_m


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The distance to show a person (exact)."""
    return geodesic_m(lat1, lon1, lat2, lon2)


# How far approx_m is from the geodesic, measured against geographiclib (tests/integration/test_geo.py
# holds it to this): relative error about 2.5e-10 (1 + 4.6 tan² lat) (d / 1 km)² up to 20 km and
# 75 degrees, and round-off under a micrometre. The bound below is ten times both.
_ROUNDING_ERROR_COEFF = 2.5e-9
_ROUNDING_ERROR_ABS_M = 1e-5


def distance_shown_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """round(geodesic_m(...), 1), the exact geodesic computed only when the approximation
    cannot tell which way the distance rounds (rounding is monotonic: when both ends of the
    error bound round alike, so does the geodesic between them)."""
    d = approx_m(lat1, lon1, lat2, lon2)
    poleward = max(abs(lat1), abs(lat2))
    if d <= _FLAT_LIMIT_M and poleward <= _FLAT_LIMIT_LAT:
        t = math.tan(math.radians(poleward))
        km = d / 1000.0
        error = _ROUNDING_ERROR_COEFF * (1.0 + 4.6 * t * t) * km * km * d + _ROUNDING_ERROR_ABS_M
        low = round(max(d - error, 0.0), 1)
        if low == round(d + error, 1):
            return low
    return round(geodesic_m(lat1, lon1, lat2, lon2), 1)


def distances_shown_m(lat: float, lon: float, lats, lons) -> list[float]:
    """`distance_shown_m` from one point to many (numpy arrays), the same values: the
    approximation and its error bound in one numpy pass, the rounding of each in Python (as
    round() does it), the exact geodesic only where the bound cannot tell."""
    import numpy as np

    d = approx_many(lat, lon, lats, lons)
    poleward = np.maximum(abs(lat), np.abs(lats))
    t = np.tan(np.radians(poleward))
    km = d / 1000.0
    error = _ROUNDING_ERROR_COEFF * (1.0 + 4.6 * t * t) * km * km * d + _ROUNDING_ERROR_ABS_M
    flat = ((d <= _FLAT_LIMIT_M) & (poleward <= _FLAT_LIMIT_LAT)).tolist()
    shown = []
    for i, (low, high, trusted) in enumerate(zip(np.maximum(d - error, 0.0).tolist(), (d + error).tolist(), flat)):
        low = round(low, 1)
        if not (trusted and low == round(high, 1)):
            low = round(geodesic_m(lat, lon, float(lats[i]), float(lons[i])), 1)
        shown.append(low)
    return shown


@dataclass(frozen=True)
class Box:
    """A lat/lon rectangle that contains every point within some distance of a centre."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


def reach_box(lat: float, lon: float, radius_m: float) -> Box:
    """A box that holds the whole disc of radius_m around (lat, lon), with a margin.

    Near a pole or across the antimeridian it widens to every longitude: still a superset,
    so still correct, only less selective for the rare places where that happens.
    """
    r = radius_m * 1.01 + 1.0  # margin over curvature and the approximation of the radii
    m, _ = _radii(lat)
    dlat = math.degrees(r / m)
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -89.0 or max_lat >= 89.0:
        return Box(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)
    poleward = max(abs(min_lat), abs(max_lat))
    _, n = _radii(poleward)
    dlon = math.degrees(r / (n * math.cos(math.radians(poleward))))
    min_lon, max_lon = lon - dlon, lon + dlon
    if min_lon < -180.0 or max_lon > 180.0:
        return Box(min_lat, max_lat, -180.0, 180.0)
    return Box(min_lat, max_lat, min_lon, max_lon)


def within_many(lat: float, lon: float, lats, lons, radii):
    """`within` for many points at once (numpy arrays): the same answers, one pass.

    Three tiers, each deciding what it safely can: a plain local projection at the centre's
    latitude (multiplications only) settles everyone more than 2 % away from their edge; the
    mid-latitude ellipsoidal formula settles the rest but a band of a few centimetres; the
    exact geodesic settles that band.
    """
    import numpy as np

    dlon = np.remainder(lons - lon + 180.0, 360.0) - 180.0
    if abs(lat) > _CHEAP_LIMIT_LAT:
        return _within_precise(lat, lon, lats, lons, dlon, radii)
    m0, n0 = _radii(lat)
    dx = dlon * (math.radians(1.0) * n0 * math.cos(math.radians(lat)))
    dy = (lats - lat) * (math.radians(1.0) * m0)
    d2 = dx * dx + dy * dy
    low = np.maximum(radii * (1.0 - _CHEAP_MARGIN) - 1.0, 0.0)
    high = radii * (1.0 + _CHEAP_MARGIN) + 1.0
    result = d2 < low * low
    undecided = np.flatnonzero(~result & (d2 <= high * high))
    if len(undecided):
        result[undecided] = _within_precise(
            lat, lon, lats[undecided], lons[undecided], dlon[undecided], radii[undecided]
        )
    return result


# The plain projection is off by up to tan(lat) * (distance / earth radius) of the distance:
# under 1 % for 20 km at 70 degrees; the 2 % margin leaves room to spare.
_CHEAP_LIMIT_LAT = 70.0
_CHEAP_MARGIN = 0.02


def _within_precise(lat: float, lon: float, lats, lons, dlon, radii):
    import numpy as np

    mid = (lats + lat) * 0.5
    s = np.sin(np.radians(mid))
    w = 1.0 - _E2 * s * s
    n = _A / np.sqrt(w)
    m = _A * (1.0 - _E2) / (w * np.sqrt(w))
    dy = np.radians(lats - lat) * m
    dx = np.radians(dlon) * n * np.cos(np.radians(mid))
    d = np.hypot(dx, dy)
    band = _ABSOLUTE_BAND_M + _RELATIVE_BAND * d
    trusted = (d <= _FLAT_LIMIT_M) & (np.abs(lats) <= _FLAT_LIMIT_LAT)
    if abs(lat) > _FLAT_LIMIT_LAT:
        trusted[:] = False
    result = trusted & (d + band < radii)
    undecided = np.flatnonzero(~trusted | (np.abs(d - radii) <= band))
    # The given longitudes, not lon + dlon: that may be off by a bit, and a point exactly on
    # the radius must get the answer `within` (and geographiclib) gives it.
    for i in undecided:
        result[i] = geodesic_m(lat, lon, float(lats[i]), float(lons[i])) <= float(radii[i])
    return result
