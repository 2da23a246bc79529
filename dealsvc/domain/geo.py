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
# Measured against geographiclib (tests/test_geo.py holds it to this): below 1e-5 of the
# distance up to 20 km at latitudes up to 80 degrees. The band is ten times wider, so only the
# exact geodesic ever decides a close call; outside that domain the geodesic decides everything.
_RELATIVE_BAND = 1e-4
_ABSOLUTE_BAND_M = 0.05
_FLAT_LIMIT_M = 20_000.0
_FLAT_LIMIT_LAT = 80.0


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
