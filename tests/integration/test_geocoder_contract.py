"""Every geocoder the service can be given answers alike: geopy's Nominatim on its own, and the
same behind the database's cache (on SQLite and PostgreSQL). A place found is a Place, an address
nobody knows is None, and an outage or a timeout is GeocoderDown, never remembered. Against the
local Nominatim of tests/fakes."""
from __future__ import annotations

import pytest

from dealsvc.adapters.geocoding import CachingGeocoder, GeocoderDown, GeocodingOff, NominatimGeocoder, OfflineGeocoder
from tests.support.geocoding import TIMEOUT_S, USER_AGENT, VIA_TORINO, VIA_TORINO_LATLON


def nominatim_geocoder(fake) -> NominatimGeocoder:
    return NominatimGeocoder(fake.url, USER_AGENT, TIMEOUT_S, min_delay_s=0.01)


def check_an_address_found_is_its_place(geocoder, fake):
    place = geocoder.geocode(VIA_TORINO)
    assert (place.lat, place.lon) == pytest.approx(VIA_TORINO_LATLON, abs=1e-9)
    assert place.display_name.startswith("12, Via Torino")
    again = geocoder.geocode("  via TORINO 12,   milano ")
    assert (again.lat, again.lon) == (place.lat, place.lon)


def check_an_address_nobody_knows_is_none(geocoder, fake):
    assert geocoder.geocode("Via Inesistente 999, Nowhere") is None
    assert geocoder.geocode("Via Inesistente 999, Nowhere") is None


def check_an_outage_is_geocoder_down_and_not_remembered(geocoder, fake, failure="down"):
    fake.mode = failure
    with pytest.raises(GeocoderDown):
        geocoder.geocode(VIA_TORINO)
    fake.mode = "ok"
    assert geocoder.geocode(VIA_TORINO) is not None


def check_a_timeout_is_geocoder_down_and_not_remembered(geocoder, fake):
    check_an_outage_is_geocoder_down_and_not_remembered(geocoder, fake, failure="hang")


CHECKS = [check_an_address_found_is_its_place, check_an_address_nobody_knows_is_none,
          check_an_outage_is_geocoder_down_and_not_remembered, check_a_timeout_is_geocoder_down_and_not_remembered]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_nominatim_keeps_the_contract(check, nominatim):
    check(nominatim_geocoder(nominatim), nominatim)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_nominatim_behind_the_cache_keeps_the_contract(check, nominatim, container):
    check(CachingGeocoder(nominatim_geocoder(nominatim), container.db, container.clock), nominatim)


def test_the_cache_asks_once_per_address_and_an_instance_without_geocoding_says_so(nominatim, container):
    cached = CachingGeocoder(nominatim_geocoder(nominatim), container.db, container.clock)
    for _ in range(2):
        cached.geocode(VIA_TORINO), cached.geocode("Via Inesistente 999, Nowhere")
    assert len(nominatim.searches()) == 2
    with pytest.raises(GeocodingOff):
        OfflineGeocoder().geocode(VIA_TORINO)
