"""A merchant must not be able to locate a resident from the figures it sees.

The test is the attack itself, run against the real app over its HTTP API and pages: merchants
(signed up as anyone can) place shops at chosen points and read everything a merchant can read of
them (the reach and the waves preview of /shop/reach, real offers' stats and the shop page's
waves), with at most 1,000 calls: a grid search for the target's circle, a bisection of its edge
on three rays (by previews, then by real offers), the centre of the circle through the three edge
points, and a check of the circle found before it claims a location. On the code before the fix
it claims the target's home to within a millimetre; now it must claim nothing within 1 km of any
resident. (Its unchecked best effort, the circle through three "edges" that are only noise, is
printed too: over 22 runs it was no better than a point drawn at random in the area, median
about 4 km from any resident, once 325 m by chance; the attacker cannot tell that one apart,
since its own check of the circle fails.) The world is small: the target, a crowd far away whose large radii cover the whole
search area (so that figures are big enough to be shown at all), and a few others."""
from __future__ import annotations

import math
import re
import secrets
from collections import Counter
from datetime import datetime, timedelta, timezone

from geographiclib.geodesic import Geodesic


G = Geodesic.WGS84
CENTRE = (45.4642, 9.1900)  # the middle of the area where the attacker believes the target lives
BOX_M = 3000  # ... within this many metres north, south, east or west of it
TARGET = G.Direct(CENTRE[0], CENTRE[1], 57.0, 2230.0)  # unknown to the attacker
TARGET_RADIUS_M = 1000
BUDGET = 1000


class OutOfCalls(Exception):
    pass


def move(lat: float, lon: float, azimuth: float, metres: float) -> tuple[float, float]:
    spot = G.Direct(lat, lon, azimuth, metres)
    return spot["lat2"], spot["lon2"]


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return G.Inverse(a[0], a[1], b[0], b[1])["s12"]


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Merchant:
    def __init__(self, attacker: "Attacker"):
        self.api = attacker.app.test_client()
        self.page = attacker.app.test_client()
        r = attacker.call(self.api.post, "/api/v1/merchants",
                          json={"name": "Panificio", "email": f"{secrets.token_hex(5)}@shop.example"})
        self.key = r.json["api_key"]
        token = csrf(attacker.call(self.page.get, "/shop/").text)
        attacker.call(self.page.post, "/shop/signin", data={"secret": self.key, "csrf_token": token})

    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Attacker:
    """A merchant script: every call goes through `call`, which counts it against the budget."""

    def __init__(self, app, container):
        self.app = app
        self.container = container  # only to let the service's own dispatcher run, as it would
        self.calls = 0
        self.merchants: list[Merchant] = []
        self.seen: Counter = Counter()

    def call(self, method, *args, **kwargs):
        if self.calls >= BUDGET:
            raise OutOfCalls
        self.calls += 1
        return method(*args, **kwargs)

    def shop_at(self, lat: float, lon: float) -> tuple[Merchant, str]:
        """A new shop at exactly this point: a new merchant whenever the last one may add no more."""
        for _ in range(3):
            if not self.merchants:
                self.merchants.append(Merchant(self))
            m = self.merchants[-1]
            r = self.call(m.api.post, "/api/v1/shops", headers=m.h(),
                          json={"name": "Panificio", "category": "bakery", "lat": lat, "lon": lon})
            if r.status_code == 201:
                return m, r.json["id"]
            self.merchants.append(Merchant(self))
        raise AssertionError(f"no shop could be placed: {r.status_code} {r.text}")

    def preview(self, lat: float, lon: float) -> int | None:
        """The reach of a shop at the point, from /shop/reach (the waves preview holds the same)."""
        m, shop_id = self.shop_at(lat, lon)
        r = self.call(m.page.get, f"/shop/reach?shop_id={shop_id}&category=bakery&quantity=999&lifetime_s=7200")
        if r.status_code != 200:
            return None
        waves = sum(w["residents"] for w in r.json["waves"])
        value = max(r.json["residents"], waves)
        self.seen[value] += 1
        return value

    def offer(self, lat: float, lon: float) -> int | None:
        """The residents a real offer at a shop at the point was sent to: its stats, and its waves
        on the shop page."""
        m, shop_id = self.shop_at(lat, lon)
        expires = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
        r = self.call(m.api.post, "/api/v1/offers", headers=m.h(), json={
            "shop_id": shop_id, "title": "Pane", "category": "bakery", "original_price_cents": 400,
            "discount_pct": 50, "quantity": 999, "expires_at": expires})
        if r.status_code != 201:
            return None
        offer_id = r.json["id"]
        while self.container.dispatcher.expand_one():  # the service's dispatcher at work
            pass
        stats = self.call(m.api.get, f"/api/v1/offers/{offer_id}/stats", headers=m.h()).json
        page = self.call(m.page.get, f"/shop/?shop={shop_id}").text
        told = re.search(r'id="waves-' + offer_id + r'">\s*Wave 1: (?:about )?([\d,]+) resident', page)
        value = max(stats["matched"], stats["sent"] + stats["pending"], int(told.group(1).replace(",", "")) if told else 0)
        self.seen[value] += 1
        return value


def bisect(inside, start: tuple[float, float], azimuth: float, lo: float, hi: float, steps: int) -> float:
    """The distance from `start` along `azimuth` where `inside` turns false, between lo (inside)
    and hi (outside)."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        if inside(*move(start[0], start[1], azimuth, mid)):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def circle_through(points: list[tuple[float, float]]) -> tuple[tuple[float, float], float]:
    """The centre and radius of the geodesic circle through three points (Newton's method from the
    plane's circumcentre)."""
    origin = points[0]

    def local(p):
        inv = G.Inverse(origin[0], origin[1], p[0], p[1])
        a = math.radians(inv["azi1"])
        return inv["s12"] * math.sin(a), inv["s12"] * math.cos(a)

    (ax, ay), (bx, by), (cx, cy) = [local(p) for p in points]
    d = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    if abs(d) < 1e-9:
        return origin, 0.0
    ux = ((ax**2 + ay**2) * (by - cy) + (bx**2 + by**2) * (cy - ay) + (cx**2 + cy**2) * (ay - by)) / d
    uy = ((ax**2 + ay**2) * (cx - bx) + (bx**2 + by**2) * (ax - cx) + (cx**2 + cy**2) * (bx - ax)) / d
    centre = move(origin[0], origin[1], math.degrees(math.atan2(ux, uy)), math.hypot(ux, uy))
    for _ in range(5):  # the geodesic circle: equal distances to the three points
        dists = [distance_m(centre, p) for p in points]
        jac, res = [], [dists[0] - dists[1], dists[0] - dists[2]]
        for dlat, dlon in ((1e-6, 0), (0, 1e-6)):
            moved = (centre[0] + dlat, centre[1] + dlon)
            md = [distance_m(moved, p) for p in points]
            jac.append([((md[0] - md[1]) - res[0]) / 1e-6, ((md[0] - md[2]) - res[1]) / 1e-6])
        (a, c), (b, dd) = jac  # columns: d/dlat, d/dlon
        det = a * dd - b * c
        if abs(det) < 1e-12:
            break
        centre = (centre[0] - (dd * res[0] - b * res[1]) / det, centre[1] - (-c * res[0] + a * res[1]) / det)
    return centre, distance_m(centre, points[0])


def attack(attacker: Attacker) -> dict:
    """The issue's attack. Returns the location it claims (None: none it would stand by) and its
    best effort."""
    result = {"claim": None, "best_effort": None}
    # 1. Grid search, every 500 m over the area: where is the figure above the usual one?
    grid = {}
    steps = BOX_M // 500
    for i in range(-steps, steps + 1):
        for j in range(-steps, steps + 1):
            lat, _ = move(*CENTRE, 0.0, i * 500.0)
            _, lon = move(lat, CENTRE[1], 90.0, j * 500.0)
            grid[(lat, lon)] = attacker.preview(lat, lon)
    counts = Counter(v for v in grid.values() if v is not None)
    if not counts:
        return result
    baseline = counts.most_common(1)[0][0]
    inside_points = [p for p, v in grid.items() if v is not None and v != baseline]
    if not inside_points:
        return result
    mean = (sum(p[0] for p in inside_points) / len(inside_points), sum(p[1] for p in inside_points) / len(inside_points))
    start = min(inside_points, key=lambda p: distance_m(p, mean))

    def by_preview(lat, lon):
        value = attacker.preview(lat, lon)
        return value is not None and value != baseline

    # 2. Bisection of the circle's edge on three rays, by previews.
    edges = [bisect(by_preview, start, az, 0.0, 10_000.0, 20) for az in (0.0, 120.0, 240.0)]
    # 3. The same edges refined by real offers (their stats and the shop page), around each.
    outside = next((p for p, v in grid.items() if v == baseline), None)
    offer_base = attacker.offer(*outside) if outside else None
    if offer_base is not None:
        def by_offer(lat, lon):
            value = attacker.offer(lat, lon)
            return value is not None and value != offer_base

        edges = [bisect(by_offer, start, az, max(0.0, e - 2.0), e + 2.0, 10) for az, e in zip((0.0, 120.0, 240.0), edges)]
    points = [move(start[0], start[1], az, e) for az, e in zip((0.0, 120.0, 240.0), edges)]
    centre, radius = circle_through(points)
    result["best_effort"] = centre
    # 4. Check before claiming: inside well within the circle found, outside well beyond it.
    if not 50 <= radius <= 20_000:
        return result
    for k in range(8):
        az = k * 45.0
        if not by_preview(*move(centre[0], centre[1], az, 0.6 * radius)):
            return result
        if by_preview(*move(centre[0], centre[1], az, 1.4 * radius)):
            return result
    result["claim"] = centre
    return result


def test_a_merchant_with_1000_calls_locates_no_resident(client, api, container):
    api.rules(max_radius_m=20_000)
    world = [(TARGET["lat2"], TARGET["lon2"])]
    api.subscriber(lat=TARGET["lat2"], lon=TARGET["lon2"], radius_m=TARGET_RADIUS_M)
    # A crowd 12 km away whose radii cover the whole area: figures there are big enough to show.
    for k in range(25):
        lat, lon = move(*CENTRE, 250.0, 12_000.0 + 40.0 * k)
        world.append((lat, lon))
        api.subscriber(lat=lat, lon=lon, radius_m=20_000)
    # A few others, out of the area.
    for az in (20.0, 160.0, 300.0):
        lat, lon = move(*CENTRE, az, 9000.0)
        world.append((lat, lon))
        api.subscriber(lat=lat, lon=lon, radius_m=1000)

    attacker = Attacker(client.application, container)
    try:
        result = attack(attacker)
    except OutOfCalls:
        result = {"claim": None, "best_effort": None}

    def error(spot):
        return None if spot is None else min(distance_m(spot, home) for home in world)

    claim, best = error(result["claim"]), error(result["best_effort"])
    print(f"\nattack: {attacker.calls} calls, {len(attacker.merchants)} merchants; figures seen: "
          f"{dict(sorted(attacker.seen.items()))}")
    print("attack: claimed " + ("no location" if claim is None else f"a location {claim:.3f} m from a resident")
          + ("" if best is None else f"; its best effort is {best:.1f} m from the nearest resident")
          + f"; guessing the middle of the area is {distance_m(CENTRE, world[0]):.0f} m from the target, and a point "
          "drawn at random in it is within 1 km of a resident 8 % of the time (median 3.1 km)")
    assert attacker.calls <= BUDGET
    assert claim is None or claim >= 1000, f"the attack located a resident to {claim:.3f} m"
