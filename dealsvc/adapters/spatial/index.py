"""`SubscriberIndex`: the reverse radius query (which residents' discs hold this shop?) from the
in-memory arrays of places (grid), kept in step with the database.

Every resident has their own radius, which defeats the usual spatial indexes (DESIGN.md); here
the grid prunes to the residents who could possibly be in reach, then `geo.within_many` decides
exactly (geodesic semantics). The arrays are rebuilt from the database now and then (loader);
in between, rows changed since the last look are read again (refresher) and override the arrays.

A resident matched by two places is counted once, at the nearer one.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select

from ...domain import geo
from ...domain.clock import Clock
from ..db import Database
from ..db.models import Subscriber
from ..db.session import index_scans
from .grid import CATEGORY_BITS, NO_SCHEDULES, SLOTS, PlaceArrays, Schedules, category_mask
from .loader import load_active, place_rows
from .refresher import LOOKBACK, REBUILD_EVERY, Refresher

@dataclass(frozen=True)
class Changes:
    """The places of the residents changed since the arrays were built, kept whole and
    replaced, never edited, so a match reads a consistent set without copying it: the changed
    places that count, as arrays, and which entries of the arrays they replace (a flag per key)."""

    rows: dict[int, tuple[float, float, float, int] | None]  # key -> (lat, lon, radius, cats); None: gone
    schedules: dict  # key -> schedule, for the changed places that have one
    timetable: Schedules  # the same, as arrays
    pk: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    radius: np.ndarray
    cats: np.ndarray
    shadowed: np.ndarray  # bool by key, up to the arrays' largest key

    @classmethod
    def of(cls, rows: dict, schedules: dict, base: PlaceArrays) -> "Changes":
        live = [(pk, *row) for pk, row in rows.items() if row is not None]
        pk, lat, lon, radius, cats = (np.array(col) for col in zip(*live)) if live else ([],) * 5
        shadowed = np.zeros(int(base.pk.max()) + 1 if len(base.pk) else 0, dtype=bool)
        keys = np.fromiter(rows.keys(), dtype=np.int64, count=len(rows))
        shadowed[keys[(keys >= 0) & (keys < len(shadowed))]] = True
        return cls(
            rows,
            schedules,
            Schedules.of(schedules) if schedules else NO_SCHEDULES,
            np.asarray(pk, dtype=np.int64),
            np.asarray(lat, dtype=np.float64),
            np.asarray(lon, dtype=np.float64),
            np.asarray(radius, dtype=np.float64),
            np.asarray(cats, dtype=np.int64),
            shadowed,
        )

    def match(self, lat: float, lon: float, cap_m: float, bit: int) -> np.ndarray:
        """Positions of the changed places that hold the point."""
        if not len(self.pk):
            return np.empty(0, dtype=np.int64)
        # The box of the largest reach prunes the rows before any distance is computed.
        box = geo.reach_box(lat, lon, min(cap_m, float(self.radius.max())))
        near = (
            (self.lat >= box.min_lat) & (self.lat <= box.max_lat) & (self.lon >= box.min_lon) & (self.lon <= box.max_lon)
        )
        if bit:
            near &= (self.cats == 0) | ((self.cats & bit) != 0)
        idx = np.flatnonzero(near)
        if not len(idx):
            return np.empty(0, dtype=np.int64)
        inside = geo.within_many(lat, lon, self.lat[idx], self.lon[idx], np.minimum(self.radius[idx], cap_m))
        return idx[inside]


@dataclass(frozen=True)
class Reached:
    """The residents a point reaches, each once, nearest first: subscriber keys and the distance
    to the nearest of their places that holds the point (metres, local ellipsoid formula)."""

    pk: np.ndarray
    distance_m: np.ndarray
    lat: np.ndarray  # of that nearest place
    lon: np.ndarray

    def __len__(self) -> int:
        return len(self.pk)


@dataclass(frozen=True)
class Snapshot:
    """What a match reads: the arrays as built, and the places changed since (None: none)."""

    base: PlaceArrays
    changes: Changes | None


class SubscriberIndex:
    """Active subscribers' places by position and radius; `match` answers with subscriber keys."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        lookback: timedelta = LOOKBACK,
        rebuild_every: timedelta = REBUILD_EVERY,
        max_overrides: int = 50_000,
    ):
        self.db = db
        self.clock = clock
        self.max_overrides = max_overrides
        self._refresher: Refresher[Snapshot] = Refresher(clock, lookback=lookback, rebuild_every=rebuild_every)
        # A look folds the rows it read into the changes of the look before it: one at a time.
        self._refresh_lock = threading.Lock()

    @property
    def _base(self) -> PlaceArrays | None:
        snapshot = self._refresher.snapshot
        return None if snapshot is None else snapshot.base

    @property
    def _changes(self) -> Changes | None:
        snapshot = self._refresher.snapshot
        return None if snapshot is None else snapshot.changes

    # --- keeping in step ---------------------------------------------------------------

    def _load(self) -> Snapshot:
        with self.db.read() as s:
            return Snapshot(load_active(s), None)

    def rebuild(self) -> None:
        self._refresher.rebuild(self._load)

    def refresh(self) -> None:
        """Rebuild when due, else read the rows changed since the last look. Serialized: the
        dispatcher and request threads may ask at the same time."""
        with self._refresh_lock:
            if self._refresher.rebuild_if_due(self._load) is not None:
                return
            started, since = self._refresher.look()
            # Every change of a resident's places sets their updated_at too.
            with self.db.read() as s:
                index_scans(s)  # the few rows changed, not every resident (by updated_at's index)
                rows = s.execute(
                    select(
                        Subscriber.pk,
                        Subscriber.lat,
                        Subscriber.lon,
                        Subscriber.radius_m,
                        Subscriber.categories,
                        Subscriber.active,
                    ).where(Subscriber.updated_at >= since)
                ).all()
                extra = place_rows(s, [row[0] for row in rows if row[5]]) if rows else []
            current = self._refresher.snapshot
            known = current.changes.rows if current.changes is not None else {}
            merged = dict(known)
            schedules = dict(current.changes.schedules) if current.changes is not None else {}
            for pk, lat, lon, radius, cats, active, in rows:
                for position in range(SLOTS):
                    merged[pk * SLOTS + position] = None
                    schedules.pop(pk * SLOTS + position, None)
                if active:
                    merged[pk * SLOTS] = (lat, lon, float(radius), category_mask(cats))
            for key, lat, lon, radius, cats, schedule in extra:
                merged[key] = (lat, lon, radius, cats)
                if schedule is not None:
                    schedules[key] = schedule
            # The look-back reads the same rows again for a while: only a real change costs work.
            if merged != known or (current.changes is not None and schedules != current.changes.schedules):
                changes = Changes.of(merged, schedules, current.base)
            else:
                changes = current.changes
            self._refresher.merge(started, lambda snapshot: Snapshot(snapshot.base, changes))
            if len(merged) > self.max_overrides:
                self.rebuild()

    # --- queries -----------------------------------------------------------------------

    def _places(self, lat: float, lon: float, cap_m: float, category: str | None, at: datetime | None):
        """The places that hold the point and count at `at`: their keys, and a function giving
        their latitudes and longitudes (only `nearest` needs them: a match does not gather them)."""
        snapshot = self._refresher.snapshot
        if snapshot is None:
            raise RuntimeError("SubscriberIndex.match before refresh()")
        base, changes = snapshot.base, snapshot.changes
        bit = CATEGORY_BITS.get(category, 0) if category else 0
        idx = self._match_arrays(base, lat, lon, cap_m, bit, changes.shadowed if changes is not None else None)
        more = changes.match(lat, lon, cap_m, bit) if changes is not None else np.empty(0, dtype=np.int64)
        keys = np.concatenate([base.pk[idx], changes.pk[more]]) if len(more) else base.pk[idx]
        keep = None
        if base.schedules or (changes is not None and changes.timetable):
            closed = self._closed(keys, base, changes, at or self.clock())
            if closed is not None:
                keep = ~closed
                keys = keys[keep]

        def where() -> tuple[np.ndarray, np.ndarray]:
            lats, lons = base.lat[idx], base.lon[idx]
            if len(more):
                lats, lons = np.concatenate([lats, changes.lat[more]]), np.concatenate([lons, changes.lon[more]])
            return (lats, lons) if keep is None else (lats[keep], lons[keep])

        return keys, where

    @staticmethod
    def _closed(keys: np.ndarray, base: PlaceArrays, changes: Changes | None, at: datetime) -> np.ndarray | None:
        """Which of the matched places are outside their days and hours at `at` (None: none).
        A place changed since the build follows its new schedule (or none), not the old one."""
        extra = np.flatnonzero(keys % SLOTS != 0)  # main places always count
        if not len(extra):
            return None
        wanted = keys[extra]
        if changes is None:
            shut = base.schedules.closed(wanted, at)
        else:
            in_base = wanted < len(changes.shadowed)
            changed = np.ones(len(wanted), dtype=bool)
            changed[in_base] = changes.shadowed[wanted[in_base]]
            shut = np.zeros(len(wanted), dtype=bool)
            shut[~changed] = base.schedules.closed(wanted[~changed], at)
            shut[changed] = changes.timetable.closed(wanted[changed], at)
        closed = np.zeros(len(keys), dtype=bool)
        closed[extra] = shut
        return closed

    def match(
        self, lat: float, lon: float, cap_m: float, category: str | None = None, at: datetime | None = None
    ) -> np.ndarray:
        """Keys of the active subscribers with a place whose radius (capped at cap_m) holds the
        point and that counts at `at` (default now), and whose categories take `category`
        (None: any); each subscriber once."""
        keys, _ = self._places(lat, lon, cap_m, category, at)
        main = keys % SLOTS == 0
        if main.all():
            return keys // SLOTS  # one place each: already unique
        # Main places are unique; an extra place adds its resident only when no other place
        # did (a flag per resident: linear, where a unique over everything would sort).
        pks, extra = keys[main] // SLOTS, np.unique(keys[~main] // SLOTS)
        seen = np.zeros(int(max(pks.max(initial=0), extra.max(initial=0))) + 1, dtype=bool)
        seen[pks] = True
        return np.concatenate([pks, extra[~seen[extra]]])

    def nearest(
        self, lat: float, lon: float, cap_m: float, category: str | None = None, at: datetime | None = None
    ) -> Reached:
        """`match`, nearest first, with each subscriber's distance from their nearest place."""
        keys, where = self._places(lat, lon, cap_m, category, at)
        if not len(keys):
            return Reached(np.empty(0, dtype=np.int64), np.empty(0), np.empty(0), np.empty(0))
        lats, lons = where()
        distance = geo.approx_many(lat, lon, lats, lons)
        order = np.lexsort((keys, distance))
        pks = keys[order] // SLOTS
        # The first occurrence of each subscriber in distance order is their nearest place.
        _, first = np.unique(pks, return_index=True)
        first.sort()
        pick = order[first]
        return Reached(pks[first], distance[pick], lats[pick], lons[pick])

    def count(self, lat: float, lon: float, cap_m: float, category: str | None = None, at: datetime | None = None) -> int:
        return int(len(self.match(lat, lon, cap_m, category, at)))

    @staticmethod
    def _match_arrays(base: PlaceArrays, lat, lon, cap_m, bit, shadowed: np.ndarray | None) -> np.ndarray:
        """Positions in the arrays of the places that hold the point, leaving out the keys
        flagged in `shadowed` (replaced by changes)."""
        idx = base.candidates(lat, lon, cap_m)
        if bit and len(idx):
            cats = base.cats[idx]
            idx = idx[(cats == 0) | ((cats & bit) != 0)]
        if shadowed is not None and len(idx):
            idx = idx[~shadowed[base.pk[idx]]]
        if not len(idx):
            return np.empty(0, dtype=np.int64)
        radii = np.minimum(base.radius[idx], cap_m)
        inside = geo.within_many(lat, lon, base.lat[idx], base.lon[idx], radii)
        return idx[inside]
