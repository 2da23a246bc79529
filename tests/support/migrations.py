"""Migration tests: a fresh database per backend, rows as an older schema held them, the service on the result."""
from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, text

from config import Settings, testing
from dealsvc.adapters.db.session import normalize_url
from dealsvc.app import create_app
from dealsvc.bootstrap import bootstrap
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS, Api
from tests.support.databases import BACKENDS, pg_url_with_schema


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
    yield pg_url_with_schema(base, schema)
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


MILAN = (45.4642, 9.1900)
NICE = (43.7031, 7.2661)
NEW_YORK = (40.7128, -74.0060)


def seed_0010(engine, subscribers) -> None:
    """Rows as the service at 0010 wrote them: a merchant, two shops, an offer, the given
    residents (0010 wrote 'UTC' for a resident who sent no timezone) and a reservation."""
    t = "2026-12-01 12:00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO merchants (id, name, email, status, api_key_hash, created_at) "
                          "VALUES ('mer_1', 'M', 'm@x.example', 'active', 'h', :t)"), {"t": t})
        for shop_id, (lat, lon) in (("shp_milan", MILAN), ("shp_nice", NICE)):
            conn.execute(text("INSERT INTO shops (id, merchant_id, name, category, lat, lon, created_at, updated_at) "
                              "VALUES (:id, 'mer_1', 'S', 'bakery', :lat, :lon, :t, :t)"),
                         {"id": shop_id, "lat": lat, "lon": lon, "t": t})
        for sub_id, lat, lon, zone in subscribers:
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
        pk = conn.execute(text("SELECT pk FROM subscribers WHERE id = :id"), {"id": subscribers[0][0]}).scalar_one()
        conn.execute(text(
            "INSERT INTO reservations (id, offer_id, subscriber_pk, quantity, code, status, created_at, updated_at, "
            "expires_at) "
            "VALUES ('res_1', 'off_1', :pk, 1, 'ABCDEF', 'held', :t, :t, :t)"), {"pk": pk, "t": t})


class Service:
    """The service on the database, as long as the block lasts (closed before any migration)."""

    def __init__(self, url, tmp_path):
        self.url, self.tmp_path = url, tmp_path

    def __enter__(self) -> Api:
        settings = Settings(database_url=self.url, admin_token=ADMIN_TOKEN, var_dir=self.tmp_path, geocoder="none",
                            auto_migrate=False, **GENEROUS_RATE_LIMITS)
        self.container = bootstrap(settings)
        return Api(create_app(container=self.container).test_client())

    def __exit__(self, *exc) -> None:
        self.container.close()
