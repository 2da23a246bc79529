"""Migration 0016 gives offers their photo's two names (large version, thumbnail); the offers and
what points at them stay, and a downgrade takes the columns away again."""
from __future__ import annotations

from sqlalchemy import inspect, text

from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine
from tests.support.migrations import MILAN, seed_0010, fresh_url  # noqa: F401, F811 (fixtures among them)

PHOTO = {"photo", "thumbnail"}


def _offer_columns(engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("offers")}


def test_0016_adds_the_photo_columns_and_a_downgrade_takes_them_away(fresh_url):
    engine = make_engine(fresh_url)  # the service's own: foreign keys enforced on SQLite too
    migrate.upgrade(engine, "0010")
    seed_0010(engine, [("sub_milan", *MILAN, "UTC")])
    migrate.upgrade(engine, "0015")
    assert not PHOTO & _offer_columns(engine)

    migrate.upgrade(engine, "0016")
    assert PHOTO <= _offer_columns(engine)
    name = "a" * 64 + ".jpg"
    with engine.begin() as conn:
        assert conn.execute(text("SELECT photo, thumbnail FROM offers")).all() == [(None, None)]
        conn.execute(text("UPDATE offers SET photo = :n, thumbnail = :n"), {"n": name})
        assert conn.execute(text("SELECT count(*) FROM reservations")).scalar_one() == 1

    migrate.downgrade(engine, "0015")
    assert not PHOTO & _offer_columns(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, title FROM offers")).all() == [("off_1", "T")]
        assert conn.execute(text("SELECT count(*) FROM reservations")).scalar_one() == 1
    migrate.upgrade(engine, "0016")
    assert PHOTO <= _offer_columns(engine)
    engine.dispose()
