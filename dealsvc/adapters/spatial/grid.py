"""Points with a radius as numpy arrays (residents' places; the shop index's shops, with an
infinite radius), grouped so that a point finds the few that could reach it: by radius class,
then by a latitude cell, each group sorted by longitude. A query reads, for each class, only the
cells its box spans and only the longitude run inside it, so the work follows the places near
the point (scaled by the class's radius), not the number of places in the city. The candidates
are then decided exactly by the caller (`geo.within_many`, geodesic semantics).

An entry of the residents' index is a place, not a resident: the main place of each resident and
the extra places (work, ...) each have one, keyed `subscriber pk × SLOTS + position`. Places with
days or hours carry their schedule (`Schedules`) and count only when it is open at the time
asked about.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ...domain import geo, places
from ...domain.categories import CATEGORIES

# Keys per resident: the main place (position 0) and the extra ones.
SLOTS = 4
assert places.MAX_PLACES <= SLOTS

CATEGORY_BITS = {name: 1 << i for i, name in enumerate(CATEGORIES)}


def category_mask(categories: list[str] | None) -> int:
    """0 means every category."""
    mask = 0
    for name in categories or []:
        mask |= CATEGORY_BITS.get(name, 0)
    return mask


_RADIUS_EDGES_M = np.array([1_000.0, 2_500.0, 5_000.0, 10_000.0])
_CELL_DEG = 0.01  # about 1.1 km of latitude


@dataclass(frozen=True)
class Schedules:
    """The places that count only on some days or hours, as arrays sorted by key, so that a
    match with thousands of them decides them in a few numpy passes (one per timezone)."""

    keys: np.ndarray
    days: np.ndarray
    start: np.ndarray  # minutes of the day, -1: all day
    end: np.ndarray
    zone: np.ndarray  # index into zones
    zones: tuple[str, ...]

    @classmethod
    def of(cls, mapping: dict) -> "Schedules":
        """From key -> (days, start "HH:MM" | None, end, timezone name)."""
        keys = np.fromiter(sorted(mapping), dtype=np.int64, count=len(mapping))
        zones = tuple(sorted({mapping[k][3] for k in mapping}))
        zone_of = {z: i for i, z in enumerate(zones)}
        rows = [mapping[int(k)] for k in keys]
        minutes = [places.minutes_of(r[1], r[2]) for r in rows]
        return cls(
            keys,
            np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            np.fromiter((m[0] for m in minutes), dtype=np.int64, count=len(rows)),
            np.fromiter((m[1] for m in minutes), dtype=np.int64, count=len(rows)),
            np.fromiter((zone_of[r[3]] for r in rows), dtype=np.int64, count=len(rows)),
            zones,
        )

    def __bool__(self) -> bool:
        return bool(len(self.keys))

    def closed(self, keys: np.ndarray, at: datetime) -> np.ndarray:
        """For each key, whether it is a place of these schedules that does not count at `at`."""
        closed = np.zeros(len(keys), dtype=bool)
        if not len(self.keys) or not len(keys):
            return closed
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = np.flatnonzero(self.keys[pos] == keys)
        if not len(found):
            return closed
        at_pos = pos[found]
        zone = self.zone[at_pos]
        for z in np.unique(zone):
            weekday, minute = places.local_weekday_minute(at, self.zones[z])
            mine = zone == z
            rows = at_pos[mine]
            counts = places.open_many(weekday, minute, self.days[rows], self.start[rows], self.end[rows])
            closed[found[mine]] = ~counts
        return closed


NO_SCHEDULES = Schedules.of({})


@dataclass(frozen=True)
class PlaceArrays:
    """Places as columns, grouped by radius class and latitude cell, sorted by longitude in each
    group; `candidates` finds the positions a point's box reaches."""

    pk: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    radius: np.ndarray
    cats: np.ndarray
    group_keys: np.ndarray  # (radius class, cell) packed in one int64, ascending
    group_starts: np.ndarray  # where each group begins; one extra entry at the end
    class_max_radius: np.ndarray  # the largest radius of each class (0 when empty)
    # The places that do not count all the time.
    schedules: Schedules

    @classmethod
    def build(cls, rows: list[tuple]) -> "PlaceArrays":
        if rows:
            pk, lat, lon, radius, cats = (np.asarray(col) for col in zip(*rows))
        else:
            pk, lat, lon, radius, cats = (np.empty(0) for _ in range(5))
        return cls.from_columns(pk, lat, lon, radius, cats)

    @classmethod
    def from_columns(cls, pk, lat, lon, radius, cats, schedules: dict | None = None) -> "PlaceArrays":
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        radius = np.asarray(radius, dtype=np.float64)
        klass = np.searchsorted(_RADIUS_EDGES_M, radius, side="left").astype(np.int64)
        cell = np.floor(lat / _CELL_DEG).astype(np.int64)
        keys = _pack(klass, cell)
        order = np.lexsort((lon, keys))
        keys = keys[order]
        group_keys, group_starts = np.unique(keys, return_index=True)
        klass = klass[order]
        radius = radius[order]
        class_max = np.zeros(len(_RADIUS_EDGES_M) + 1)
        if len(radius):
            np.maximum.at(class_max, klass, radius)
        return cls(
            np.asarray(pk, dtype=np.int64)[order],
            lat[order],
            lon[order],
            radius,
            np.asarray(cats, dtype=np.int64)[order],
            group_keys,
            np.append(group_starts, len(keys)).astype(np.int64),
            class_max,
            Schedules.of(schedules) if schedules else NO_SCHEDULES,
        )

    @property
    def max_radius(self) -> float:
        return float(self.class_max_radius.max()) if len(self.radius) else 0.0

    def candidates(self, lat: float, lon: float, cap_m: float) -> np.ndarray:
        """Positions of every resident whose class's reach box around the point holds them."""
        runs = []
        for klass, class_max in enumerate(self.class_max_radius):
            reach = min(float(class_max), cap_m)
            if reach <= 0:
                continue
            box = geo.reach_box(lat, lon, reach)
            first = _pack(klass, int(np.floor(box.min_lat / _CELL_DEG)))
            last = _pack(klass, int(np.floor(box.max_lat / _CELL_DEG)))
            g0, g1 = np.searchsorted(self.group_keys, [first, last + 1])
            whole_lon = box.min_lon <= -180.0 and box.max_lon >= 180.0
            for g in range(g0, g1):
                start, stop = int(self.group_starts[g]), int(self.group_starts[g + 1])
                if not whole_lon:
                    lons = self.lon[start:stop]
                    start, stop = start + int(np.searchsorted(lons, box.min_lon, "left")), start + int(
                        np.searchsorted(lons, box.max_lon, "right")
                    )
                if stop > start:
                    runs.append(np.arange(start, stop))
        return np.concatenate(runs) if runs else np.empty(0, dtype=np.int64)


def _pack(klass, cell):
    # Cells are whole hundredths of a degree of latitude: -9000..9000 fits in 16 bits.
    return (klass << 20) + (cell + 10_000)
