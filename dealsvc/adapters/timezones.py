"""The IANA time zone of a point, found offline (timezonefinder's bundled boundaries)."""
from __future__ import annotations

import threading

UTC = "UTC"


class TimeZones:
    """One TimezoneFinder per process, built on first use (it takes ~0.2 s and some memory)
    and shared by every thread. A point with no land zone (at sea: timezonefinder's Etc/GMT±N
    nautical zones) or none at all counts as UTC."""

    def __init__(self) -> None:
        self._finder = None
        self._lock = threading.Lock()

    def _get(self):
        if self._finder is None:
            with self._lock:
                if self._finder is None:
                    from timezonefinder import TimezoneFinder

                    self._finder = TimezoneFinder()
        return self._finder

    def zone_at(self, lat: float, lon: float) -> str:
        try:
            name = self._get().timezone_at(lat=lat, lng=lon)
        except ValueError:  # outside -90..90 / -180..180
            return UTC
        if not name or name.startswith("Etc/"):
            return UTC
        return name


# The process's one instance: the web app, the workers and the migrations all look up through it.
time_zones = TimeZones()
