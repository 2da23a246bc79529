"""Migration 0011 on rows written before it: existing subscribers take the default locale,
those still on the old UTC default the zone of their place, and every shop its zone."""
from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, inspect, text

from config import testing
from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine, normalize_url
from tests.conftest import BACKENDS, _pg_url_with_schema


@pytest.fixture(params=BACKENDS)
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    base = testing.test_database_url()
    schema = "m_" + secrets.token_hex(6)
    admin = create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield _pg_url_with_schema(base, schema)
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


SUBSCRIBERS = [
    # id, lat, lon, timezone before -> timezone after
    ("sub_milan_utc", 45.4642, 9.1900, "UTC", "Europe/Rome"),
    ("sub_nice_utc", 43.7031, 7.2661, "UTC", "Europe/Paris"),
    ("sub_milan_london", 45.4642, 9.1900, "Europe/London", "Europe/London"),  # chosen: kept
    ("sub_sea_utc", 30.0, -40.0, "UTC", "UTC"),
]


def test_0011_fills_locales_and_zones_of_existing_rows(fresh_url, monkeypatch):
    engine = make_engine(fresh_url)  # the service's own: foreign keys enforced on SQLite too
    migrate.upgrade(engine, "0010")
    t = "2026-12-01 12:00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO merchants (id, name, email, status, api_key_hash, created_at) "
                          "VALUES ('mer_1', 'M', 'm@x.example', 'active', 'h', :t)"), {"t": t})
        for shop_id, lat, lon in (("shp_milan", 45.4642, 9.19), ("shp_nice", 43.7031, 7.2661)):
            conn.execute(text("INSERT INTO shops (id, merchant_id, name, category, lat, lon, created_at, updated_at) "
                              "VALUES (:id, 'mer_1', 'S', 'bakery', :lat, :lon, :t, :t)"),
                         {"id": shop_id, "lat": lat, "lon": lon, "t": t})
        for sub_id, lat, lon, zone, _ in SUBSCRIBERS:
            conn.execute(text(
                "INSERT INTO subscribers (id, secret_hash, fcm_token, lat, lon, radius_m, categories, timezone, "
                "active, min_lat, max_lat, min_lon, max_lon, created_at, updated_at) VALUES (:id, :id, :id, :lat, "
                ":lon, 1000, '[]', :zone, true, :lat, :lat, :lon, :lon, :t, :t)"),
                {"id": sub_id, "lat": lat, "lon": lon, "zone": zone, "t": t})
        # Rows that point at subscribers and shops: the migration must not need to drop those tables.
        conn.execute(text(
            "INSERT INTO offers (id, shop_id, title, category, original_price_cents, price_cents, discount_pct, "
            "currency, quantity, quantity_left, expires_at, status, created_at, updated_at) "
            "VALUES ('off_1', 'shp_milan', 'T', 'bakery', 400, 200, 50, 'EUR', 5, 4, :t, 'active', :t, :t)"), {"t": t})
        pk = conn.execute(text("SELECT pk FROM subscribers WHERE id = 'sub_milan_utc'")).scalar_one()
        conn.execute(text(
            "INSERT INTO reservations (id, offer_id, subscriber_pk, quantity, code, status, created_at, updated_at, "
            "expires_at) "
            "VALUES ('res_1', 'off_1', :pk, 1, 'ABCDEF', 'held', :t, :t, :t)"), {"pk": pk, "t": t})
    monkeypatch.setenv("DEALSVC_DEFAULT_LOCALE", "it")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        subs = {row.id: row for row in conn.execute(text("SELECT id, timezone, timezone_auto, locale FROM subscribers"))}
        shops = dict(conn.execute(text("SELECT id, timezone FROM shops")).all())
    # And back, with the same rows (and the foreign keys that point at them) in place.
    migrate.downgrade(engine, "0010")
    columns = {c["name"] for c in inspect(engine).get_columns("subscribers")}
    shop_columns = {c["name"] for c in inspect(engine).get_columns("shops")}
    engine.dispose()
    assert not {"locale", "timezone_auto"} & columns and "timezone" not in shop_columns
    print({k: (v.timezone, bool(v.timezone_auto), v.locale) for k, v in subs.items()}, shops)
    for sub_id, _, _, before, after in SUBSCRIBERS:
        assert subs[sub_id].timezone == after, sub_id
        assert bool(subs[sub_id].timezone_auto) is (before == "UTC"), sub_id
        assert subs[sub_id].locale == "it"
    assert shops == {"shp_milan": "Europe/Rome", "shp_nice": "Europe/Paris"}
