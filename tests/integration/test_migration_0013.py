"""Migration 0013 drops the subscribers' reach box, which nothing read, and its index; the rows
and what points at them stay, the service works on the result, and a downgrade puts the box back
filled in from each resident's place and radius."""
from __future__ import annotations

from sqlalchemy import inspect, text

from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine
from dealsvc.domain.geo import reach_box
from tests.support.api import ADMIN_TOKEN
from tests.support.migrations import MILAN, NICE, Service, seed_0010, fresh_url  # noqa: F401 (a fixture)

BOX = {"min_lat", "max_lat", "min_lon", "max_lon"}


def _subscriber_schema(engine) -> tuple[set[str], set[str]]:
    found = inspect(engine)
    return ({c["name"] for c in found.get_columns("subscribers")},
            {i["name"] for i in found.get_indexes("subscribers")})


def test_0013_drops_the_reach_box_and_a_downgrade_fills_it_in_again(fresh_url, tmp_path):
    engine = make_engine(fresh_url)  # the service's own: foreign keys enforced on SQLite too
    migrate.upgrade(engine, "0010")
    seed_0010(engine, [("sub_milan", *MILAN, "UTC"), ("sub_nice", *NICE, "Europe/Paris")])
    migrate.upgrade(engine, "0011")
    columns, indexes = _subscriber_schema(engine)
    assert BOX <= columns and "ix_subscribers_reach" in indexes

    migrate.upgrade(engine)
    columns, indexes = _subscriber_schema(engine)
    assert not BOX & columns and "ix_subscribers_reach" not in indexes
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT id, lat, lon, radius_m FROM subscribers ORDER BY id")).all()
        assert conn.execute(text("SELECT count(*) FROM reservations")).scalar_one() == 1
    assert [tuple(r) for r in kept] == [("sub_milan", *MILAN, 1000), ("sub_nice", *NICE, 1000)]
    engine.dispose()

    with Service(fresh_url, tmp_path) as api:
        # Residents sign up, move and are found by a shop's reach without the box.
        resident = api.subscriber(*MILAN, radius_m=2000)
        r = api.c.patch(f"/api/v1/subscribers/{resident['id']}", json={"lat": NICE[0], "lon": NICE[1]},
                        headers=api.h(resident["secret"]))
        assert r.status_code == 200, r.json
        r = api.c.get("/api/v1/admin/reach", query_string={"lat": NICE[0], "lon": NICE[1]}, headers=api.h(ADMIN_TOKEN))
        assert r.status_code == 200 and r.json["subscribers"] == 2, r.json  # sub_nice and the one who moved

    engine = make_engine(fresh_url)
    migrate.downgrade(engine, "0012")
    columns, indexes = _subscriber_schema(engine)
    assert BOX <= columns and "ix_subscribers_reach" in indexes
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT lat, lon, radius_m, min_lat, max_lat, min_lon, max_lon FROM subscribers")).all()
    assert len(rows) == 3
    for lat, lon, radius_m, *box in rows:
        want = reach_box(lat, lon, radius_m)
        assert box == [want.min_lat, want.max_lat, want.min_lon, want.max_lon]
    migrate.upgrade(engine)
    assert not BOX & _subscriber_schema(engine)[0]
    engine.dispose()
