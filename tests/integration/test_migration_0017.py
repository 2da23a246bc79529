"""Migration 0017 gives shops their opening hours (none for the shops already there: never held
back), the service sets and reads them on the result, and a downgrade takes the column away
with the shops and what points at them kept."""
from __future__ import annotations

from sqlalchemy import inspect, text

from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine
from tests.support.migrations import MILAN, NICE, Service, seed_0010, fresh_url  # noqa: F401, F811 (fixtures among them)

HOURS = "Mo-Sa 07:00-19:30; Su off"


def _shop_columns(engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("shops")}


def test_0017_adds_opening_hours_and_a_downgrade_takes_them_away(fresh_url, tmp_path):
    engine = make_engine(fresh_url)  # the service's own: foreign keys enforced on SQLite too
    migrate.upgrade(engine, "0010")
    seed_0010(engine, [("sub_milan", *MILAN, "UTC"), ("sub_nice", *NICE, "Europe/Paris")])
    migrate.upgrade(engine, "0016")
    assert "opening_hours" not in _shop_columns(engine)

    migrate.upgrade(engine)
    assert "opening_hours" in _shop_columns(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, opening_hours FROM shops ORDER BY id")).all() == [
            ("shp_milan", None), ("shp_nice", None)]
    engine.dispose()

    with Service(fresh_url, tmp_path) as api:
        key = api.merchant()["api_key"]
        shop = api.shop(key, *MILAN, opening_hours=HOURS)
        assert shop["opening_hours"] == HOURS and shop["open_now"] in (True, False)
        r = api.c.get("/api/v1/shops/shp_milan")
        assert r.status_code == 200 and r.json["opening_hours"] is None and r.json["open_now"] is None

    engine = make_engine(fresh_url)
    migrate.downgrade(engine, "0016")
    assert "opening_hours" not in _shop_columns(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM shops")).scalar_one() == 3
        assert conn.execute(text("SELECT count(*) FROM offers")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM reservations")).scalar_one() == 1
    migrate.upgrade(engine)
    assert "opening_hours" in _shop_columns(engine)
    engine.dispose()
