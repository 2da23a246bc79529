"""API 1.1 "Language and local time": a subscriber's locale, and time zones found from places."""
from __future__ import annotations

import secrets

from dealsvc.adapters.db.models import Shop, Subscriber
from sqlalchemy import select

MILAN = (45.4642, 9.1900)
NICE = (43.7031, 7.2661)
NEW_YORK = (40.7128, -74.0060)
MID_ATLANTIC = (30.0, -40.0)


def _post(api, headers=None, **extra):
    body = {"fcm_token": "tok-" + secrets.token_hex(8), "lat": MILAN[0], "lon": MILAN[1], **extra}
    return api.c.post("/api/v1/subscribers", json=body, headers=headers or {})


def _url(sub):
    return f"/api/v1/subscribers/{sub['id']}"


def _patch(api, sub, body):
    return api.c.patch(_url(sub), json=body, headers=api.h(sub["secret"]))


def _get(api, sub):
    r = api.c.get(_url(sub), headers=api.h(sub["secret"]))
    assert r.status_code == 200, r.json
    return r.json


# --- locale -------------------------------------------------------------------------------


def test_locale_is_negotiated_from_accept_language_on_post(api):
    cases = [
        ("it-IT,it;q=0.9,en;q=0.8", "it"),
        ("de-DE, fr-CH;q=0.9, en;q=0.5", "fr"),
        ("en-GB", "en"),
        ("de, es;q=0.5", "en"),  # none of ours: the default
        (None, "en"),
    ]
    for header, expected in cases:
        r = _post(api, headers={"Accept-Language": header} if header else None)
        assert r.status_code == 201, r.json
        assert r.json["locale"] == expected, (header, r.json["locale"])
        assert _get(api, r.json)["locale"] == expected


def test_an_explicit_locale_beats_accept_language(api):
    r = _post(api, headers={"Accept-Language": "it"}, locale="fr")
    assert r.status_code == 201 and r.json["locale"] == "fr"


def test_default_locale_setting_is_used_when_nothing_matches(container, settings):
    from config import Settings
    from dealsvc.app import create_app
    from dealsvc.bootstrap import bootstrap

    from tests.support.api import Api

    env = {"DEALSVC_DEFAULT_LOCALE": "it", "DEALSVC_DATABASE_URL": settings.database_url}
    italian = bootstrap(settings.with_(default_locale=Settings.from_env(env).default_locale))
    try:
        api = Api(create_app(container=italian).test_client())
        r = _post(api, headers={"Accept-Language": "de"})
        assert r.status_code == 201 and r.json["locale"] == "it"
        r = _post(api, headers={"Accept-Language": "en-US"})
        assert r.status_code == 201 and r.json["locale"] == "en"
    finally:
        italian.close()


def test_patch_changes_locale_and_an_unknown_one_is_a_400(api, container):
    sub = _post(api, headers={"Accept-Language": "it"}).json
    r = _patch(api, sub, {"locale": "fr"})
    assert r.status_code == 200 and r.json["locale"] == "fr"
    assert _get(api, sub)["locale"] == "fr"
    for bad in ("de", "FR", "", "it-IT", 3, None):
        r = _patch(api, sub, {"locale": bad})
        assert r.status_code == 400, (bad, r.status_code)
        assert r.mimetype == "application/problem+json"
        assert "locale" in r.json["errors"], r.json
    r = _post(api, locale="es")
    assert r.status_code == 400 and "locale" in r.json["errors"]
    with container.db.read() as s:
        assert s.scalar(select(Subscriber.locale).where(Subscriber.id == sub["id"])) == "fr"


# --- time zones ---------------------------------------------------------------------------


def test_a_resident_without_timezone_gets_the_zone_of_their_place(api):
    assert _post(api).json["timezone"] == "Europe/Rome"
    assert _post(api, lat=NICE[0], lon=NICE[1]).json["timezone"] == "Europe/Paris"
    assert _post(api, lat=NEW_YORK[0], lon=NEW_YORK[1]).json["timezone"] == "America/New_York"
    assert _post(api, lat=MID_ATLANTIC[0], lon=MID_ATLANTIC[1]).json["timezone"] == "UTC"
    assert _post(api, timezone="Asia/Tokyo").json["timezone"] == "Asia/Tokyo"


def test_a_found_zone_follows_moves_and_a_chosen_one_stays(api):
    found = _post(api).json
    r = _patch(api, found, {"lat": NICE[0], "lon": NICE[1]})
    assert r.status_code == 200 and r.json["timezone"] == "Europe/Paris"
    # Once the resident sends one, it is theirs: a move no longer changes it.
    assert _patch(api, found, {"timezone": "Europe/Rome"}).json["timezone"] == "Europe/Rome"
    assert _patch(api, found, {"lat": NEW_YORK[0], "lon": NEW_YORK[1]}).json["timezone"] == "Europe/Rome"
    chosen = _post(api, timezone="Europe/London").json
    assert _patch(api, chosen, {"lat": NICE[0], "lon": NICE[1]}).json["timezone"] == "Europe/London"
    # A move that sends its own timezone takes it.
    moved = _post(api).json
    assert _patch(api, moved, {"lat": NICE[0], "lon": NICE[1], "timezone": "UTC"}).json["timezone"] == "UTC"


def test_timezone_null_gives_back_the_zone_of_the_place_which_follows_moves_again(api, container):
    sub = _post(api, timezone="Asia/Tokyo").json
    # Chosen: a move keeps it.
    r = _patch(api, sub, {"lat": NICE[0], "lon": NICE[1]})
    assert r.status_code == 200 and r.json["timezone"] == "Asia/Tokyo"
    # null: the zone of the place the resident is at now, at once...
    r = _patch(api, sub, {"timezone": None})
    assert r.status_code == 200, r.json
    assert r.json["timezone"] == "Europe/Paris"
    assert _get(api, sub)["timezone"] == "Europe/Paris"
    # ...and from then on it follows the place again.
    r = _patch(api, sub, {"lat": NEW_YORK[0], "lon": NEW_YORK[1]})
    assert r.status_code == 200 and r.json["timezone"] == "America/New_York"
    r = _patch(api, sub, {"lat": MILAN[0], "lon": MILAN[1], "radius_m": 800})
    assert r.status_code == 200 and r.json["timezone"] == "Europe/Rome"
    # A change that does not move the place leaves the zone alone.
    r = _patch(api, sub, {"radius_m": 900, "locale": "it"})
    assert r.status_code == 200 and r.json["timezone"] == "Europe/Rome"
    with container.db.read() as s:
        assert s.execute(select(Subscriber.timezone, Subscriber.timezone_auto).where(Subscriber.id == sub["id"])).one() \
            == ("Europe/Rome", True)
    # null together with a move: the zone of the new place.
    r = _patch(api, sub, {"timezone": "Asia/Tokyo"})
    assert r.status_code == 200 and r.json["timezone"] == "Asia/Tokyo"
    r = _patch(api, sub, {"lat": NICE[0], "lon": NICE[1], "timezone": None})
    assert r.status_code == 200 and r.json["timezone"] == "Europe/Paris"
    # Registering with null is registering without one.
    r = _post(api, timezone=None, lat=NEW_YORK[0], lon=NEW_YORK[1])
    assert r.status_code == 201 and r.json["timezone"] == "America/New_York"
    assert _patch(api, r.json, {"lat": NICE[0], "lon": NICE[1]}).json["timezone"] == "Europe/Paris"


def test_the_openapi_document_says_what_a_null_timezone_means(client):
    spec = client.get("/api/v1/openapi.json").json
    for name in ("SubscriberCreate", "SubscriberPatch"):
        field = spec["components"]["schemas"][name]["properties"]["timezone"]
        assert field.get("nullable") is True, (name, field)
        assert "null" in field["description"], (name, field)


def test_a_shop_answers_with_the_zone_of_its_coordinates(api, container):
    key = api.merchant()["api_key"]
    milan = api.shop(key, *MILAN)
    assert milan["timezone"] == "Europe/Rome"
    nice = api.shop(key, *NICE)
    assert nice["timezone"] == "Europe/Paris"
    r = api.c.get(f"/api/v1/shops/{milan['id']}")
    assert r.status_code == 200 and r.json["timezone"] == "Europe/Rome"
    with container.db.read() as s:
        assert s.scalar(select(Shop.timezone).where(Shop.id == nice["id"])) == "Europe/Paris"


def test_the_demo_phones_speak_italian_and_a_few_english_and_french_on_rome_time(container):
    import random
    from collections import Counter

    from dealsvc.web.demo import PHONES, seed

    seed(container, random.Random(13))
    with container.db.read() as s:
        rows = s.execute(select(Subscriber.locale, Subscriber.timezone)).all()
        shops = s.scalars(select(Shop.timezone)).all()
    locales = Counter(locale for locale, _ in rows)
    print("demo phones by locale:", dict(locales))
    assert sum(locales.values()) == PHONES
    assert locales["it"] > PHONES / 2 and 0 < locales["en"] < locales["it"] and 0 < locales["fr"] < locales["it"]
    assert {zone for _, zone in rows} == {"Europe/Rome"}
    assert set(shops) == {"Europe/Rome"}
