"""Migration 0011 on rows written before it: existing subscribers keep English (whatever the
environment of the process that migrates), those still on the old UTC default the zone of their
place, and every shop its zone; a downgrade to 0010 and back keeps which zones are automatic."""
from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, inspect, text

from config import Settings, testing
from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine, normalize_url
from dealsvc.app import create_app
from dealsvc.bootstrap import bootstrap
from tests.conftest import ADMIN_TOKEN, BACKENDS, GENEROUS_RATE_LIMITS, Api, _pg_url_with_schema


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


MILAN = (45.4642, 9.1900)
NICE = (43.7031, 7.2661)
NEW_YORK = (40.7128, -74.0060)


def _seed_0010(engine, subscribers) -> None:
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


def test_0011_fills_locales_and_zones_of_existing_rows(fresh_url, monkeypatch):
    engine = make_engine(fresh_url)  # the service's own: foreign keys enforced on SQLite too
    migrate.upgrade(engine, "0010")
    _seed_0010(engine, [(sub_id, lat, lon, zone) for sub_id, lat, lon, zone, _ in SUBSCRIBERS])
    # Whoever runs the migration may have set a default locale for new sign-ups: it says nothing
    # about the residents already there, who have been getting English.
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
        assert subs[sub_id].locale == "en", sub_id
    assert shops == {"shp_milan": "Europe/Rome", "shp_nice": "Europe/Paris"}


class _Service:
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


def _zone(api, sub) -> str:
    r = api.c.get(f"/api/v1/subscribers/{sub['id']}", headers=api.h(sub["secret"]))
    assert r.status_code == 200, r.json
    return r.json["timezone"]


def _move(api, sub, lat, lon) -> str:
    r = api.c.patch(f"/api/v1/subscribers/{sub['id']}", json={"lat": lat, "lon": lon}, headers=api.h(sub["secret"]))
    assert r.status_code == 200, r.json
    return r.json["timezone"]


def test_a_downgrade_to_0010_and_back_keeps_which_zones_are_automatic(fresh_url, tmp_path):
    engine = make_engine(fresh_url)
    migrate.upgrade(engine, "0010")
    _seed_0010(engine, [("sub_old_utc", *MILAN, "UTC"), ("sub_old_london", *MILAN, "Europe/London")])
    migrate.upgrade(engine)
    with _Service(fresh_url, tmp_path) as api:
        found = api.subscriber(*MILAN)  # automatic: Europe/Rome
        # Chosen, and the same zone as the lookup's: still the resident's own.
        chosen_rome = api.subscriber(*MILAN, timezone="Europe/Rome")
        chosen_london = api.subscriber(*MILAN, timezone="Europe/London")
        # Chosen, then given back with null: automatic again.
        given_back = api.subscriber(*MILAN, timezone="Asia/Tokyo")
        r = api.c.patch(f"/api/v1/subscribers/{given_back['id']}", json={"timezone": None},
                        headers=api.h(given_back["secret"]))
        assert r.status_code == 200 and r.json["timezone"] == "Europe/Rome", r.json
        assert [_zone(api, s) for s in (found, chosen_rome, chosen_london)] == ["Europe/Rome"] * 2 + ["Europe/London"]

    migrate.downgrade(engine, "0010")
    with engine.begin() as conn:
        # What the service at 0010 reads: the automatic zones are its "none sent" again.
        zones = dict(conn.execute(text("SELECT id, timezone FROM subscribers")).all())
        assert zones == {
            "sub_old_utc": "UTC", "sub_old_london": "Europe/London", found["id"]: "UTC",
            chosen_rome["id"]: "Europe/Rome", chosen_london["id"]: "Europe/London", given_back["id"]: "UTC",
        }
        # Moves made while on 0010 (which leaves the timezone as it is).
        conn.execute(text("UPDATE subscribers SET lat = :lat, lon = :lon WHERE id IN (:a, :b)"),
                     {"lat": NICE[0], "lon": NICE[1], "a": found["id"], "b": chosen_rome["id"]})
    migrate.upgrade(engine)
    with engine.connect() as conn:
        old = {row.id: row for row in conn.execute(
            text("SELECT id, timezone, timezone_auto FROM subscribers WHERE id LIKE 'sub_old_%'"))}
    engine.dispose()
    assert (old["sub_old_utc"].timezone, bool(old["sub_old_utc"].timezone_auto)) == ("Europe/Rome", True)
    assert (old["sub_old_london"].timezone, bool(old["sub_old_london"].timezone_auto)) == ("Europe/London", False)

    with _Service(fresh_url, tmp_path) as api:
        # The one moved while on 0010 is on the clock of where it is now; the chosen ones kept theirs.
        assert _zone(api, found) == "Europe/Paris"
        assert _zone(api, chosen_rome) == "Europe/Rome"
        assert _zone(api, given_back) == "Europe/Rome"
        # And the automatic ones still follow the place; the chosen ones still stay.
        moved = {name: _move(api, sub, *NEW_YORK) for name, sub in
                 (("found", found), ("chosen_rome", chosen_rome), ("chosen_london", chosen_london),
                  ("given_back", given_back))}
        assert moved == {"found": "America/New_York", "chosen_rome": "Europe/Rome",
                         "chosen_london": "Europe/London", "given_back": "America/New_York"}
