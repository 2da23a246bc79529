"""Shop addresses geocoded by geopy's real Nominatim client against a local Nominatim look-alike."""
from __future__ import annotations

import time

import pytest

from dealsvc.app import create_app
from dealsvc.bootstrap import bootstrap
from tests.support.api import Api, empty_database
from tests.support.geocoding import MIN_DELAY_S, TIMEOUT_S, USER_AGENT, VIA_TORINO, VIA_TORINO_LATLON, geo_container, geo_settings  # noqa: F401 (fixtures among them)

@pytest.fixture
def geo_api(geo_container) -> Api:
    return Api(create_app(container=geo_container).test_client())


def post_shop(api: Api, key: str, **body):
    return api.c.post(
        "/api/v1/shops",
        json={"name": "Forno Rossi", "category": "bakery", **body},
        headers=api.h(key),
    )


def my_shops(api: Api, key: str) -> list[dict]:
    r = api.c.get("/api/v1/shops", headers=api.h(key))
    assert r.status_code == 200, r.json
    return r.json["items"]


def test_an_address_without_coordinates_gets_the_geocoders_coordinates(geo_api, nominatim):
    key = geo_api.merchant()["api_key"]

    r = post_shop(geo_api, key, address=VIA_TORINO)

    assert r.status_code == 201, r.json
    assert (r.json["lat"], r.json["lon"]) == pytest.approx(VIA_TORINO_LATLON, abs=1e-9)
    assert r.json["address"] == VIA_TORINO
    stored = geo_api.c.get(f"/api/v1/shops/{r.json['id']}").json
    assert (stored["lat"], stored["lon"]) == pytest.approx(VIA_TORINO_LATLON, abs=1e-9)
    [search] = nominatim.searches()
    assert search.query["q"] == VIA_TORINO
    assert search.query["format"] == "json"
    assert search.query["limit"] == "1"


def test_an_address_the_geocoder_does_not_know_is_a_422_on_the_address(geo_api, nominatim):
    key = geo_api.merchant()["api_key"]

    r = post_shop(geo_api, key, address="Via Che Non Esiste 999, Atlantide")

    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    assert r.json["status"] == 422
    assert "address" in r.json["errors"]
    assert len(nominatim.searches()) == 1
    assert my_shops(geo_api, key) == []


@pytest.mark.parametrize("failure", ["down", "hang"])
def test_a_geocoder_outage_or_timeout_is_a_503_and_stores_nothing(geo_api, nominatim, failure):
    key = geo_api.merchant()["api_key"]
    nominatim.mode = failure

    started = time.monotonic()
    r = post_shop(geo_api, key, address=VIA_TORINO)
    elapsed = time.monotonic() - started

    assert r.status_code == 503
    assert r.mimetype == "application/problem+json"
    assert r.json["status"] == 503
    assert int(r.headers["Retry-After"]) > 0
    assert my_shops(geo_api, key) == []
    # Asked once: no hidden transport retries, which would also bypass the rate limit.
    assert len(nominatim.searches()) == 1
    if failure == "hang":
        assert elapsed < 2 * TIMEOUT_S, "the client must give up at its timeout"

    # The failure is not remembered: once the geocoder is back, the same address is asked again.
    nominatim.mode = "ok"
    r = post_shop(geo_api, key, address=VIA_TORINO)
    assert r.status_code == 201, r.json
    assert (r.json["lat"], r.json["lon"]) == pytest.approx(VIA_TORINO_LATLON, abs=1e-9)
    assert len(nominatim.searches()) == 2
    assert [s["id"] for s in my_shops(geo_api, key)] == [r.json["id"]]


def test_the_same_address_is_asked_once_whatever_its_case_and_spacing(geo_api, geo_settings, nominatim):
    first = geo_api.merchant()["api_key"]
    second = geo_api.merchant()["api_key"]

    a = post_shop(geo_api, first, address=VIA_TORINO)
    b = post_shop(geo_api, second, address="  via   TORINO 12,   milano ")  # a tab is refused (domain/text.py)

    assert a.status_code == b.status_code == 201
    assert (b.json["lat"], b.json["lon"]) == (a.json["lat"], a.json["lon"])
    assert len(nominatim.searches()) == 1

    # Another process on the same database (a second web worker) uses the same cache.
    other = bootstrap(geo_settings)
    try:
        other_api = Api(create_app(container=other).test_client())
        c = post_shop(other_api, other_api.merchant()["api_key"], address="VIA TORINO 12, MILANO")
    finally:
        other.close()
    assert c.status_code == 201, c.json
    assert (c.json["lat"], c.json["lon"]) == pytest.approx(VIA_TORINO_LATLON, abs=1e-9)
    assert len(nominatim.searches()) == 1


def test_requests_carry_the_configured_user_agent(geo_api, nominatim):
    key = geo_api.merchant()["api_key"]
    post_shop(geo_api, key, address=VIA_TORINO)
    post_shop(geo_api, key, address="Nowhere Street 1")

    agents = [s.user_agent for s in nominatim.searches()]
    assert agents == [USER_AGENT, USER_AGENT]


def test_consecutive_requests_are_spaced_by_the_minimum_delay(geo_api, nominatim):
    key = geo_api.merchant()["api_key"]
    addresses = [VIA_TORINO, "Corso Buenos Aires 33, Milano", "Rue de Rivoli 10, Paris", "Nowhere Street 1"]

    for address in addresses:
        post_shop(geo_api, key, address=address)

    times = [s.at for s in nominatim.searches()]
    assert len(times) == len(addresses)
    gaps = [b - a for a, b in zip(times, times[1:])]
    # Each request leaves the minimum delay after the previous one's answer came back, so it
    # arrives at least that long after the previous one arrived, however busy the machine.
    assert min(gaps) >= MIN_DELAY_S, gaps


def test_an_address_with_coordinates_is_not_geocoded(geo_api, nominatim):
    key = geo_api.merchant()["api_key"]

    r = post_shop(geo_api, key, address=VIA_TORINO, lat=45.4700, lon=9.1800)

    assert r.status_code == 201, r.json
    assert (r.json["lat"], r.json["lon"]) == (45.4700, 9.1800)
    assert r.json["address"] == VIA_TORINO
    assert nominatim.requests == []


def test_a_policy_delay_longer_than_geopys_error_wait_is_accepted(settings, nominatim):
    slow = settings.with_(geocoder="nominatim", nominatim_url=nominatim.url, geocoder_min_delay_s=10.0)
    c = bootstrap(slow)
    try:
        empty_database(c)
        api = Api(create_app(container=c).test_client())
        r = post_shop(api, api.merchant()["api_key"], address=VIA_TORINO)
    finally:
        c.close()
    assert r.status_code == 201, r.json
    assert len(nominatim.searches()) == 1
