"""The reverse radius query (which residents' discs hold this shop?) from an in-memory index of
lat-sorted numpy arrays, kept in step with the database.

Every resident has their own radius, which defeats the usual spatial indexes (DESIGN.md); here
a binary search on latitude and a longitude window prune to the residents who could possibly be
in reach, then `geo.within_many` decides exactly (geodesic semantics). The arrays are rebuilt
from the database now and then; in between, rows changed since the last look are read again
(`updated_at` with a look-back that covers transactions still in flight when we looked) and
override the arrays.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select

from ..domain import geo
from ..domain.categories import CATEGORIES
from ..domain.clock import Clock
from .db import Database
from .db.models import Subscriber

_CATEGORY_BIT = {name: 1 << i for i, name in enumerate(CATEGORIES)}


def category_mask(categories: list[str] | None) -> int:
    """0 means every category."""
    mask = 0
    for name in categories or []:
        mask |= _CATEGORY_BIT.get(name, 0)
    return mask


# Residents are grouped by radius class, then by a latitude cell, and sorted by longitude in
# each group: a query reads, for each class, only the cells its box spans and only the
# longitude run inside it, so the work follows the residents near the shop (scaled by the
# class's radius), not the number of residents in the city.
_RADIUS_EDGES_M = np.array([1_000.0, 2_500.0, 5_000.0, 10_000.0])
_CELL_DEG = 0.01  # about 1.1 km of latitude


@dataclass(frozen=True)
class _Arrays:
    pk: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    radius: np.ndarray
    cats: np.ndarray
    group_keys: np.ndarray  # (radius class, cell) packed in one int64, ascending
    group_starts: np.ndarray  # where each group begins; one extra entry at the end
    class_max_radius: np.ndarray  # the largest radius of each class (0 when empty)

    @classmethod
    def build(cls, rows: list[tuple]) -> "_Arrays":
        if rows:
            pk, lat, lon, radius, cats = (np.asarray(col) for col in zip(*rows))
        else:
            pk, lat, lon, radius, cats = (np.empty(0) for _ in range(5))
        return cls.from_columns(pk, lat, lon, radius, cats)

    @classmethod
    def from_columns(cls, pk, lat, lon, radius, cats) -> "_Arrays":
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


class SubscriberIndex:
    """Active subscribers by place and radius; `match` answers with their integer keys."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        lookback: timedelta = timedelta(seconds=120),
        rebuild_every: timedelta = timedelta(minutes=10),
        max_overrides: int = 50_000,
    ):
        self.db = db
        self.clock = clock
        self.lookback = lookback
        self.rebuild_every = rebuild_every
        self.max_overrides = max_overrides
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._base: _Arrays | None = None
        self._built_at: datetime | None = None
        self._seen_at: datetime | None = None
        # pk -> (lat, lon, radius, cats) for rows changed since the arrays were built;
        # None for a row that is no longer active.
        self._overrides: dict[int, tuple[float, float, float, int] | None] = {}

    # --- keeping in step ---------------------------------------------------------------

    def rebuild(self) -> None:
        started = self.clock()
        with self.db.read() as s:
            newest = s.scalar(select(func.max(Subscriber.updated_at)))
            rows = s.execute(
                select(
                    Subscriber.pk, Subscriber.lat, Subscriber.lon, Subscriber.radius_m, Subscriber.categories
                ).where(Subscriber.active.is_(True))
            ).all()
        arrays = _Arrays.build([(pk, lat, lon, r, category_mask(c)) for pk, lat, lon, r, c in rows])
        with self._lock:
            self._base, self._overrides = arrays, {}
            self._built_at = started
            self._seen_at = newest or started

    def refresh(self) -> None:
        """Rebuild when due, else read the rows changed since the last look. Serialized: the
        dispatcher and request threads may ask at the same time."""
        with self._refresh_lock:
            now = self.clock()
            if self._base is None or now - self._built_at >= self.rebuild_every:
                self.rebuild()
                return
            # The watermark is the newest updated_at the database gave us, so other hosts'
            # clocks only matter within the look-back.
            since = self._seen_at - self.lookback
            with self.db.read() as s:
                rows = s.execute(
                    select(
                        Subscriber.pk,
                        Subscriber.lat,
                        Subscriber.lon,
                        Subscriber.radius_m,
                        Subscriber.categories,
                        Subscriber.active,
                        Subscriber.updated_at,
                    ).where(Subscriber.updated_at >= since)
                ).all()
            with self._lock:
                for pk, lat, lon, radius, cats, active, updated_at in rows:
                    self._overrides[pk] = (lat, lon, float(radius), category_mask(cats)) if active else None
                    self._seen_at = max(self._seen_at, updated_at)
            if len(self._overrides) > self.max_overrides:
                self.rebuild()

    # --- queries -----------------------------------------------------------------------

    def match(self, lat: float, lon: float, cap_m: float, category: str | None = None) -> np.ndarray:
        """Keys of the active subscribers whose radius (capped at cap_m) holds the point, and
        whose categories take `category` (None: any)."""
        with self._lock:
            base, overrides = self._base, dict(self._overrides)
        if base is None:
            raise RuntimeError("SubscriberIndex.match before refresh()")
        bit = _CATEGORY_BIT.get(category, 0) if category else 0
        found = [self._match_arrays(base, lat, lon, cap_m, bit, overrides)]
        # The box of the largest reach prunes the overrides before any distance is computed.
        box = geo.reach_box(lat, lon, min(cap_m, max((r[2] for r in overrides.values() if r), default=0.0)))
        extra = [
            pk
            for pk, row in overrides.items()
            if row is not None
            and box.contains(row[0], row[1])
            and (bit == 0 or row[3] == 0 or row[3] & bit)
            and geo.within(lat, lon, row[0], row[1], min(row[2], cap_m))
        ]
        found.append(np.asarray(extra, dtype=np.int64))
        return np.concatenate(found)

    def count(self, lat: float, lon: float, cap_m: float, category: str | None = None) -> int:
        return int(len(self.match(lat, lon, cap_m, category)))

    @staticmethod
    def _match_arrays(base: _Arrays, lat, lon, cap_m, bit, overrides) -> np.ndarray:
        idx = base.candidates(lat, lon, cap_m)
        if bit and len(idx):
            cats = base.cats[idx]
            idx = idx[(cats == 0) | ((cats & bit) != 0)]
        if overrides and len(idx):
            idx = idx[~np.isin(base.pk[idx], np.fromiter(overrides.keys(), dtype=np.int64))]
        if not len(idx):
            return np.empty(0, dtype=np.int64)
        radii = np.minimum(base.radius[idx], cap_m)
        inside = geo.within_many(lat, lon, base.lat[idx], base.lon[idx], radii)
        return base.pk[idx[inside]]
