"""A container geocoding with Nominatim (the fake one of tests/fakes), and what it finds."""
from __future__ import annotations

import pytest

from dealsvc.bootstrap import bootstrap
from tests.support.api import empty_database

USER_AGENT = "dealsvc-tests/1.0 (ops@dealsvc.example)"


MIN_DELAY_S = 0.3


TIMEOUT_S = 0.5


VIA_TORINO = "Via Torino 12, Milano"


VIA_TORINO_LATLON = (45.4627123, 9.1856412)


@pytest.fixture
def geo_settings(settings, nominatim):
    return settings.with_(
        geocoder="nominatim",
        nominatim_url=nominatim.url,
        geocoder_user_agent=USER_AGENT,
        geocoder_min_delay_s=MIN_DELAY_S,
        geocoder_timeout_s=TIMEOUT_S,
    )


@pytest.fixture
def geo_container(geo_settings):
    c = bootstrap(geo_settings)
    empty_database(c)
    yield c
    c.close()
