"""GET /api/v1/deals from the in-memory shop index: the same answers as a brute-force geodesic
check and as the bounding-box query it replaces, and never stale across processes."""
from __future__ import annotations

import random
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest
import requests
from geographiclib.geodesic import Geodesic
from geopy.distance import geodesic as geopy_geodesic
from sqlalchemy import select, update

from dealsvc.adapters.db.models import Merchant, Offer, Shop
from dealsvc.adapters.db.store import Store
from dealsvc.api.schemas import DealListSchema
from dealsvc.adapters.spatial import NearShops, ShopIndex
from dealsvc.bootstrap import bootstrap
from dealsvc.domain import geo
from dealsvc.domain.categories import CATEGORIES
from dealsvc.services.offers import OfferService

MILAN = (45.4642, 9.1900)
STATUSES = ["active"] * 6 + ["sold_out", "cancelled", "expired"]


def _seed(container, rng: random.Random, shops: list[tuple[float, float]], offers_per_shop=(0, 5)) -> None:
    now = container.clock()
    with container.db.write() as s:
        s.add(Merchant(id="mer_t", name="t", email="t@shop.example", status="active", api_key_hash="x" * 64, created_at=now))
        s.flush()
        for n, (lat, lon) in enumerate(shops):
            shop_id = f"shp_{n:05d}"
            s.add(Shop(id=shop_id, merchant_id="mer_t", name=f"Shop {n}", category="bakery",
                       address=rng.choice([None, f"Via {n}"]), lat=lat, lon=lon, created_at=now, updated_at=now))
            for k in range(rng.randint(*offers_per_shop)):
                quantity = rng.randint(1, 9)
                s.add(Offer(
                    id=f"off_{n:05d}_{k}", shop_id=shop_id, title=f"Deal {n}/{k}", description=rng.choice([None, "d"]),
                    category=rng.choice(CATEGORIES[:4]), original_price_cents=400, price_cents=200,
                    discount_pct=50.0, currency="EUR", quantity=quantity, quantity_left=rng.randint(0, quantity),
                    # Whole minutes, so that offers of one shop often tie on expires_at too.
                    expires_at=now + timedelta(minutes=rng.choice([-5, 30, 60, 60, 90])),
                    status=rng.choice(STATUSES), image_url=rng.choice([None, f"https://img.example/{n}.jpg"]),
                    created_at=now - timedelta(seconds=rng.randint(0, 9999), microseconds=rng.randint(0, 999_999)),
                    updated_at=now,
                ))


# One geopy geodesic for every measure: `geopy_geodesic(a, b)` builds the ellipsoid's series
# coefficients again for each pair (most of the brute force's time). `.m` is the kilometres
# `measure` returns times 1000: _geopy_m(a, b) == geopy_geodesic(a, b).m, bit for bit.
_GEOPY = geopy_geodesic()


def _geopy_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return _GEOPY.measure(a, b) * 1000


def _brute_force(container, lat, lon, radius_m, category, limit) -> list[str]:
    """Every live offer, geopy's geodesic for every shop; ranked by distance, expiry, id."""
    now = container.clock()
    with container.db.read() as s:
        rows = s.execute(select(Offer.id, Offer.status, Offer.category, Offer.expires_at, Shop.lat, Shop.lon)
                         .join(Shop, Offer.shop_id == Shop.id)).all()
    to_shop: dict[tuple[float, float], float] = {}  # a shop's offers share its distance

    def geodesic_m(shop: tuple[float, float]) -> float:
        if shop not in to_shop:
            to_shop[shop] = _geopy_m((lat, lon), shop)
        return to_shop[shop]

    found = [
        (geo.approx_m(lat, lon, r.lat, r.lon), r.expires_at, r.id)
        for r in rows
        if r.status == "active" and r.expires_at > now
        and (category is None or r.category == category)
        and geodesic_m((r.lat, r.lon)) <= radius_m
    ]
    return [offer_id for *_, offer_id in sorted(found)[:limit]]


def _around(rng, centre, n, spread_deg):
    """Valid WGS-84 coordinates: longitudes wrap at the antimeridian."""
    return [(min(90.0, centre[0] + rng.uniform(-spread_deg, spread_deg)),
             (centre[1] + rng.uniform(-spread_deg, spread_deg) + 180.0) % 360.0 - 180.0)
            for _ in range(n)]


def _on_the_edge(centre, radius_m, n):
    """Shops at the radius and a millimetre either side of it, all around the point."""
    shops = []
    for k in range(n):
        for delta in (-0.001, 0.0, 0.001):
            p = Geodesic.WGS84.Direct(centre[0], centre[1], 360.0 * k / n, radius_m + delta)
            shops.append((p["lat2"], p["lon2"]))
    return shops


@pytest.mark.parametrize(
    "centre, spread",
    [
        (MILAN, 0.06),
        ((-16.5, 179.99), 0.05),  # across the antimeridian (Fiji)
        ((89.97, 0.0), 0.02),  # by the North Pole: boxes widen to every longitude
        ((0.0, 0.0), 0.05),
    ],
)
def test_the_index_agrees_with_brute_force_and_with_the_box_query(container, centre, spread):
    rng = random.Random(hash(centre) & 0xFFFF)
    edge_point, edge_radius = (centre[0] + 0.001, centre[1] - 0.001), 1234
    shops = _around(rng, centre, 250, spread) + _on_the_edge(edge_point, edge_radius, 12)
    shops += [shops[3]] * 3  # several shops at one address: distance ties
    # Mirror images east and west of the first query's point: the same distance, two places.
    shops += [(edge_point[0] + dy, edge_point[1] + sign * dx) for dy, dx in ((0.001, 0.002), (-0.002, 0.0005)) for sign in (1, -1)]
    _seed(container, rng, shops)
    by_box = OfferService(Store(container.db), container.clock, container.rules, b"-")  # without the index
    queries = [(*edge_point, edge_radius, None, 100)] + [
        (*_around(rng, centre, 1, spread)[0], rng.choice([1, 300, 1000, 2500, 5000]),
         rng.choice([None, None, "bakery", "dairy"]), rng.choice([1, 5, 20, 100]))
        for _ in range(40)
    ]
    answered = 0
    for lat, lon, radius_m, category, limit in queries:
        indexed = container.offers.deals_near(lat, lon, radius_m, category, limit)
        expected = _brute_force(container, lat, lon, radius_m, category, limit)
        assert [d["id"] for d in indexed] == expected, (lat, lon, radius_m, category, limit)
        assert indexed == by_box.deals_near(lat, lon, radius_m, category, limit)
        answered += bool(expected)
    assert answered >= 20  # the comparison is not between empty lists


def test_the_listing_is_byte_for_byte_what_the_schema_dumps(app, client, container):
    rng = random.Random(17)
    _seed(container, rng, _around(rng, MILAN, 60, 0.01) + [(MILAN[0], MILAN[1] + 1e-4)] * 2)
    for lat, lon, radius_m in [(*MILAN, 5000), (*MILAN, 300), (MILAN[0] + 0.01, MILAN[1], 1000)]:
        r = client.get("/api/v1/deals", query_string={"lat": lat, "lon": lon, "radius_m": radius_m, "limit": 100})
        assert r.status_code == 200 and r.mimetype == "application/json"
        items = container.offers.deals_near(lat, lon, radius_m, None, 100)
        with app.app_context():
            expected = app.json.response(DealListSchema().dump({"items": items})).get_data()
        assert r.get_data() == expected
    assert len(r.json["items"]) > 5


def test_when_the_nearest_shops_have_nothing_the_next_ones_are_asked(container):
    rng = random.Random(23)
    shops = [(MILAN[0] + 0.0001 * k, MILAN[1]) for k in range(300)]  # 11 m apart, northwards
    _seed(container, rng, shops, offers_per_shop=(2, 2))
    with container.db.write() as s:
        s.execute(update(Offer).values(status="active", quantity_left=1, expires_at=container.clock() + timedelta(hours=1)))
        s.execute(update(Offer).where(Offer.shop_id < "shp_00250").values(status="sold_out"))
    items = container.offers.deals_near(*MILAN, 5000, None, 7)
    assert [d["shop_id"] for d in items] == ["shp_00250"] * 2 + ["shp_00251"] * 2 + ["shp_00252"] * 2 + ["shp_00253"]
    assert [d["id"] for d in items] == _brute_force(container, *MILAN, 5000, None, 7)


def test_the_edge_is_decided_by_the_geodesic(container):
    rng = random.Random(3)
    _seed(container, rng, _on_the_edge(MILAN, 2000, 24), offers_per_shop=(1, 1))
    with container.db.write() as s:
        s.execute(update(Offer).values(status="active", quantity_left=1, expires_at=container.clock() + timedelta(hours=1)))
    shops = {d["shop_id"] for d in container.offers.deals_near(*MILAN, 2000, None, 100)}
    # On each bearing: 1 mm inside, on the radius (to a picometre or so), 1 mm outside.
    inside, edge, outside = ({f"shp_{3 * k + j:05d}" for k in range(24)} for j in range(3))
    assert inside <= shops and not outside & shops
    assert shops & edge == {
        shop_id for shop_id, p in zip(sorted(edge), _on_the_edge(MILAN, 2000, 24)[1::3])
        if _geopy_m(MILAN, p) <= 2000
    }


def test_a_shop_created_elsewhere_is_found_at_once_and_an_ended_offer_is_gone_at_once(api, container, settings):
    """Two containers on one database stand for two gunicorn processes."""
    other = bootstrap(settings, migrate_schema=False)
    try:
        assert other.offers.deals_near(*MILAN, 1000, None, 20) == []  # its index is built now
        key = api.merchant()["api_key"]
        shop = api.shop(key, *MILAN)
        offer = api.offer(key, shop["id"])
        assert [d["id"] for d in other.offers.deals_near(*MILAN, 1000, None, 20)] == [offer["id"]]
        r = api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "sold_out"}, headers=api.h(key))
        assert r.status_code == 200
        assert other.offers.deals_near(*MILAN, 1000, None, 20) == []
        again = api.offer(key, shop["id"])
        assert [d["id"] for d in other.offers.deals_near(*MILAN, 1000, None, 20)] == [again["id"]]
        with container.db.write() as s:  # expired by the clock alone, with no scheduler running
            s.execute(update(Offer).values(expires_at=container.clock() - timedelta(seconds=1)))
        assert other.offers.deals_near(*MILAN, 1000, None, 20) == []
    finally:
        other.close()


def test_a_shop_that_moves_or_is_renamed_is_listed_as_it_is_now(container):
    rng = random.Random(5)
    _seed(container, rng, [MILAN], offers_per_shop=(1, 1))
    with container.db.write() as s:
        s.execute(update(Offer).values(status="active", quantity_left=1, expires_at=container.clock() + timedelta(hours=1)))
    assert len(container.offers.deals_near(*MILAN, 500, None, 20)) == 1
    far = (MILAN[0] + 0.05, MILAN[1])
    with container.db.write() as s:
        s.execute(update(Shop).values(lat=far[0], lon=far[1], updated_at=container.clock()))
    assert container.offers.deals_near(*MILAN, 500, None, 20) == []
    assert len(container.offers.deals_near(*far, 500, None, 20)) == 1
    with container.db.write() as s:
        s.execute(update(Shop).values(name="Forno Nuovo", address="Via Nuova 1", updated_at=container.clock()))
    [deal] = container.offers.deals_near(*far, 500, None, 20)
    assert deal["shop"] == {"id": "shp_00000", "name": "Forno Nuovo", "address": "Via Nuova 1", "lat": far[0], "lon": far[1],
                            "open_now": None, "open_until": None, "opens_at": None}


def test_many_new_shops_are_folded_into_the_arrays(container):
    index = ShopIndex(container.db, container.clock, compact_above=10)
    with container.db.read() as s:
        index.refresh(s)
    rng = random.Random(11)
    shops = _around(rng, MILAN, 40, 0.02)
    _seed(container, rng, shops, offers_per_shop=(0, 0))
    with container.db.read() as s:
        snapshot = index.refresh(s)
        assert len(snapshot.overrides) == 0 and len(snapshot.rows) == 40
        near = index.near(s, *MILAN, 1500)
    expected = sorted((geo.approx_m(*MILAN, *p), f"shp_{n:05d}") for n, p in enumerate(shops)
                      if Geodesic.WGS84.Inverse(*MILAN, *p)["s12"] <= 1500)
    assert [shop[0] for shop in near.shops] == [shop_id for _, shop_id in expected]


def test_a_batch_never_ends_between_two_shops_at_the_same_distance():
    near = NearShops([(i, 0.0, 0.0, i, None) for i in "abcdef"], np.array([1.0, 2.0, 2.0, 2.0 + 1e-9, 3.0, 4.0]))
    assert near.batch_end(0, 2) == 4
    assert near.batch_end(0, 1) == 1
    assert near.batch_end(4, 1) == 5
    assert near.batch_end(4, 10) == 6
    assert near.near_ties(0, 6) is False  # all at one place
    moved = NearShops([("a", 0.0, 0.0), ("b", 0.0, 0.0), ("c", 1e-12, 0.0)], np.array([1.0, 2.0, 2.0 + 1e-9]))
    assert moved.near_ties(0, 3) is True and moved.near_ties(0, 2) is False


@pytest.mark.slow
def test_every_gunicorn_process_lists_a_new_deal_and_drops_an_ended_one(multiworker_server, api):
    """4 processes, each with its own index: none may lag behind the database."""
    url = multiworker_server.url
    query = {"lat": MILAN[0], "lon": MILAN[1], "radius_m": 1000}

    def every_answer(n=60) -> set[tuple[str, ...]]:
        return {tuple(d["id"] for d in requests.get(url + "/api/v1/deals", params=query, timeout=10).json()["items"])
                for _ in range(n)}

    assert every_answer() == {()}  # every process has built its index by now
    key = requests.post(url + "/api/v1/merchants", json={"name": "Forno", "email": "f@shop.example"}, timeout=10).json()["api_key"]
    headers = {"Authorization": f"Bearer {key}"}
    shop = requests.post(url + "/api/v1/shops", json={"name": "Forno", "category": "bakery", "lat": MILAN[0], "lon": MILAN[1]},
                         headers=headers, timeout=10).json()
    offer = requests.post(url + "/api/v1/offers", json=api.offer_body(shop["id"]), headers=headers, timeout=10).json()
    assert every_answer() == {(offer["id"],)}
    r = requests.patch(url + f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=headers, timeout=10)
    assert r.status_code == 200
    assert every_answer() == {()}


def test_the_look_back_slides_with_the_looks_so_old_changes_are_not_read_again(container):
    """After a bulk import and nothing since, a look reads nothing once the look-back has passed
    (were it anchored at the newest row, every request would read the import again)."""
    now = [container.clock()]
    index = ShopIndex(container.db, lambda: now[0], rebuild_every=timedelta(days=1))
    read = []

    class Counting:
        """A connection that counts the rows each statement read."""

        def __init__(self, conn):
            self.conn = conn

        def execute(self, *args, **kwargs):
            rows = self.conn.execute(*args, **kwargs).all()
            read.append(len(rows))
            return SimpleNamespace(all=lambda: rows)

    with container.db.read_statements() as conn:
        index.refresh(Counting(conn))  # the first look builds the arrays
    _seed(container, random.Random(1), _around(random.Random(1), MILAN, 30, 0.01), offers_per_shop=(0, 0))
    with container.db.read_statements() as conn:
        assert len(index.refresh(Counting(conn)).overrides) == 30
        assert read[-1] == 30
        now[0] += timedelta(seconds=30)
        index.refresh(Counting(conn))
        assert read[-1] == 30  # still within the look-back of the last look: read again
        now[0] += timedelta(minutes=5)
        index.refresh(Counting(conn))
        now[0] += timedelta(minutes=5)
        snapshot = index.refresh(Counting(conn))
        assert read[-1] == 0 and len(snapshot.overrides) == 30
