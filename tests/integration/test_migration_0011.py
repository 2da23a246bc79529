"""Migration 0011 on rows written before it: existing subscribers keep English (whatever the
environment of the process that migrates), those still on the old UTC default the zone of their
place, and every shop its zone; a downgrade to 0010 and back keeps which zones are automatic."""
from __future__ import annotations


from sqlalchemy import inspect, text

from dealsvc.adapters.db import migrate
from dealsvc.adapters.db.session import make_engine


from tests.support.migrations import MILAN, NEW_YORK, NICE, SUBSCRIBERS, Service, fresh_url, seed_0010  # noqa: F401 (a fixture)


def test_0011_fills_locales_and_zones_of_existing_rows(fresh_url, monkeypatch):
    engine = make_engine(fresh_url)  # the service's own: foreign keys enforced on SQLite too
    migrate.upgrade(engine, "0010")
    seed_0010(engine, [(sub_id, lat, lon, zone) for sub_id, lat, lon, zone, _ in SUBSCRIBERS])
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
    seed_0010(engine, [("sub_old_utc", *MILAN, "UTC"), ("sub_old_london", *MILAN, "Europe/London")])
    migrate.upgrade(engine)
    with Service(fresh_url, tmp_path) as api:
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

    with Service(fresh_url, tmp_path) as api:
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
