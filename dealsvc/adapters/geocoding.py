"""Geocoding of shop addresses: geopy's Nominatim client, its usage policy, and a lasting cache."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Protocol
from urllib.parse import urlsplit

from geopy.adapters import URLLibAdapter
from geopy.exc import GeocoderServiceError, GeopyError
from geopy.geocoders import Nominatim
from sqlalchemy.exc import IntegrityError

from ..domain.text import address_key
from .db import Database
from .db.models import GeocodeCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    display_name: str | None = None


class GeocoderDown(Exception):
    """The geocoder could not answer now (timeout, rate limit, outage); try again later."""


class GeocodingOff(Exception):
    """This instance has no geocoder: no retry will help, only coordinates will."""


class Geocoder(Protocol):
    def geocode(self, address: str) -> Place | None:
        """The place of an address, None when there is none; GeocoderDown when it cannot tell."""


class NominatimGeocoder:
    """geopy's Nominatim, held to its policy: an identifying user agent, one request at a time
    from this process, each starting `min_delay_s` after the previous one's answer (or failure).
    Spaced from the answer rather than from the start (as geopy's RateLimiter does), two
    requests never reach the server closer than `min_delay_s`, however late the first one
    left this process (a busy machine delayed one by 70 ms: 0.23 s apart with a 0.3 s limit).

    The adapter is pinned to urllib's: geopy would pick `requests` when it happens to be
    installed, whose transport retries a timed-out request at once, twice, past the rate limit."""

    def __init__(self, base_url: str, user_agent: str, timeout_s: float, min_delay_s: float):
        parts = urlsplit(base_url)
        self._client = Nominatim(
            user_agent=user_agent,
            scheme=parts.scheme or "https",
            domain=(parts.netloc + parts.path).rstrip("/"),
            timeout=timeout_s,
            adapter_factory=URLLibAdapter,
        )
        self._min_delay_s = min_delay_s
        self._one_at_a_time = threading.Lock()
        self._next_at = 0.0  # time.monotonic() from which the next request may leave

    def _spaced(self, address: str):
        with self._one_at_a_time:
            time.sleep(max(0.0, self._next_at - time.monotonic()))
            try:
                return self._client.geocode(address, exactly_one=True)
            finally:
                self._next_at = time.monotonic() + self._min_delay_s

    def geocode(self, address: str) -> Place | None:
        try:
            location = self._spaced(address)
        except (GeocoderServiceError, GeopyError) as exc:
            log.warning("geocoder unavailable: %s", type(exc).__name__)
            raise GeocoderDown(str(exc)) from exc
        if location is None:
            return None
        return Place(location.latitude, location.longitude, location.address)


class OfflineGeocoder:
    """For an instance without geocoding: every address must come with coordinates."""

    def geocode(self, address: str) -> Place | None:
        raise GeocodingOff("geocoding is turned off on this instance (DEALSVC_GEOCODER=none)")


class CachingGeocoder:
    """Asks the inner geocoder once per address, ever: answers (found or not) are kept in the
    database, shared by every process. Outages are not cached."""

    def __init__(self, inner: Geocoder, db: Database, clock: Callable[[], datetime]):
        self.inner = inner
        self.db = db
        self.clock = clock

    def geocode(self, address: str) -> Place | None:
        key = address_key(address)
        with self.db.read() as s:
            hit = s.get(GeocodeCache, key)
            if hit is not None:
                return Place(hit.lat, hit.lon, hit.display_name) if hit.found else None
        place = self.inner.geocode(address)
        try:
            with self.db.write() as s:
                if s.get(GeocodeCache, key) is None:
                    s.add(
                        GeocodeCache(
                            query=key,
                            found=place is not None,
                            lat=place.lat if place else None,
                            lon=place.lon if place else None,
                            display_name=(place.display_name or "")[:1000] if place else None,
                            created_at=self.clock(),
                        )
                    )
        except IntegrityError:
            pass  # another process cached the same address meanwhile
        return place
