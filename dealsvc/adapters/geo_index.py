"""The reverse radius query (which residents' discs hold this shop?) from an in-memory index of
lat-sorted numpy arrays, kept in step with the database.

Every resident has their own radius, which defeats the usual spatial indexes (DESIGN.md); here
a binary search on latitude and a longitude window prune to the residents who could possibly be
in reach, then `geo.within_many` decides exactly (geodesic semantics). The arrays are rebuilt
from the database now and then; in between, rows changed since the last look are read again
(`updated_at` with a look-back that covers transactions still in flight when we looked) and
override the arrays.

An entry is a place, not a resident: the main place of each resident and the extra places
(work, ...) each have one, keyed `subscriber pk × SLOTS + position`, so a resident matched by
two places is counted once, at the nearer one. Places with days or hours are kept aside with
their schedule and count only when it is open at the time asked about.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from ..domain import geo, places
from ..domain.categories import CATEGORIES
from ..domain.clock import Clock
from .db import Database
from .db.models import Subscriber, SubscriberPlace

# Keys per resident: the main place (position 0) and the extra ones.
SLOTS = 4
assert places.MAX_PLACES <= SLOTS

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
class _Schedules:
    """The places that count only on some days or hours, as arrays sorted by key, so that a
    match with thousands of them decides them in a few numpy passes (one per timezone)."""

    keys: np.ndarray
    days: np.ndarray
    start: np.ndarray  # minutes of the day, -1: all day
    end: np.ndarray
    zone: np.ndarray  # index into zones
    zones: tuple[str, ...]

    @classmethod
    def of(cls, mapping: dict) -> "_Schedules":
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


_NO_SCHEDULES = _Schedules.of({})


@dataclass(frozen=True)
class PlaceArrays:
    """Places as columns, grouped by radius class and latitude cell, sorted by longitude in each
    group (above); `candidates` finds the positions a point's box reaches."""

    pk: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    radius: np.ndarray
    cats: np.ndarray
    group_keys: np.ndarray  # (radius class, cell) packed in one int64, ascending
    group_starts: np.ndarray  # where each group begins; one extra entry at the end
    class_max_radius: np.ndarray  # the largest radius of each class (0 when empty)
    # The places that do not count all the time.
    schedules: _Schedules

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
            _Schedules.of(schedules) if schedules else _NO_SCHEDULES,
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


# Rows per fetch while loading: a bounded buffer whatever the number of residents.
_LOAD_CHUNK = 50_000


def _place_rows(s: Session, pks: list[int] | None = None) -> list[tuple]:
    """The extra places of active residents (of `pks` only, when given), as
    (key, lat, lon, radius, category mask, schedule or None)."""
    stmt = (
        select(
            SubscriberPlace.subscriber_pk, SubscriberPlace.position, SubscriberPlace.lat, SubscriberPlace.lon,
            SubscriberPlace.radius_m, cast(Subscriber.categories, String), SubscriberPlace.days,
            SubscriberPlace.hours_start, SubscriberPlace.hours_end, Subscriber.timezone,
        )
        .join(Subscriber, Subscriber.pk == SubscriberPlace.subscriber_pk)
        .where(Subscriber.active.is_(True))
    )
    found = []
    for start in range(0, len(pks) if pks is not None else 1, 2000):
        query = stmt if pks is None else stmt.where(SubscriberPlace.subscriber_pk.in_(pks[start : start + 2000]))
        for pk, position, lat, lon, radius, cats, days, h_start, h_end, zone in s.execute(query):
            always = days == places.ALL_DAYS and not h_start
            found.append((
                pk * SLOTS + position, lat, lon, float(radius), category_mask(json.loads(cats) if cats else None),
                None if always else (days, h_start, h_end, zone),
            ))
    return found


def _with_places(s: Session, main: tuple) -> PlaceArrays:
    """The main places' columns (keys already scaled) joined by every extra place."""
    extra = _place_rows(s)
    pk, lat, lon, radius, cats = main
    if extra:
        k, la, lo, ra, ca, _ = zip(*extra)
        pk = np.concatenate([pk, np.asarray(k, dtype=np.int64)])
        lat = np.concatenate([lat, np.asarray(la, dtype=np.float64)])
        lon = np.concatenate([lon, np.asarray(lo, dtype=np.float64)])
        radius = np.concatenate([radius, np.asarray(ra, dtype=np.float64)])
        cats = np.concatenate([cats, np.asarray(ca, dtype=np.int64)])
    schedules = {row[0]: row[5] for row in extra if row[5] is not None}
    return PlaceArrays.from_columns(pk, lat, lon, radius, cats, schedules)


def _load_active(s: Session) -> PlaceArrays:
    """The active residents as numpy columns, without a Python object per row.

    At a million rows the plain way (every row a tuple, the category lists decoded row by row)
    took 9 s with a 760 MB peak in a fresh process, 20-30 s in a busy one; this takes about 2 s
    with a 280 MB peak (bench/match_pg.py). PostgreSQL sends the rows as binary COPY records of
    fixed width, decoded by numpy a few megabytes at a time; other engines stream in chunks."""
    if s.get_bind().dialect.name == "postgresql":
        return _load_active_pg_copy(s)
    return _load_active_streamed(s)


def _load_active_streamed(s: Session) -> PlaceArrays:
    """Any engine: chunks of rows into numpy columns; the category lists are read as their JSON
    text and decoded once per distinct value (most residents share a handful)."""
    stmt = select(
        Subscriber.pk, Subscriber.lat, Subscriber.lon, Subscriber.radius_m, cast(Subscriber.categories, String)
    ).where(Subscriber.active.is_(True))
    masks: dict[str | None, int] = {}

    def mask_of(text: str | None) -> int:
        mask = masks.get(text)
        if mask is None:
            mask = masks[text] = category_mask(json.loads(text) if text else None)
        return mask

    columns: list[list[np.ndarray]] = [[], [], [], [], []]
    result = s.execute(stmt, execution_options={"stream_results": True, "yield_per": _LOAD_CHUNK})
    for chunk in result.partitions():
        pk, lat, lon, radius, cats = zip(*chunk)
        size = len(pk)
        columns[0].append(np.fromiter(pk, np.int64, size))
        columns[1].append(np.fromiter(lat, np.float64, size))
        columns[2].append(np.fromiter(lon, np.float64, size))
        columns[3].append(np.fromiter(radius, np.float64, size))
        columns[4].append(np.fromiter(map(mask_of, cats), np.int64, size))
    pk, lat, lon, radius, cats = (
        np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
        for parts, dtype in zip(columns, (np.int64, np.float64, np.float64, np.float64, np.int64))
    )
    return _with_places(s, (pk * SLOTS, lat, lon, radius, cats))


# A binary COPY record of five 8-byte fields: a field count, then each field's length and value
# (big-endian). No field can be NULL (the columns are NOT NULL, the mask is coalesced), so every
# record has the same width and numpy reads them as an array of structs.
_COPY_RECORD = np.dtype(
    [("fields", ">i2")]
    + [item for name, kind in (("pk", ">i8"), ("lat", ">f8"), ("lon", ">f8"), ("radius", ">f8"), ("cats", ">i8"))
       for item in ((f"{name}_len", ">i4"), (name, kind))]
)
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_COPY_DECODE_BYTES = 4 << 20


def _pg_copy_query():
    from psycopg import sql

    # The category bits computed by the server, from the same table as category_mask.
    bits = sql.SQL(", ").join(
        sql.SQL("({}, {})").format(sql.Literal(name), sql.Literal(bit)) for name, bit in _CATEGORY_BIT.items()
    )
    return sql.SQL(
        "COPY (SELECT (pk * {slots})::int8, lat::float8, lon::float8, radius_m::float8, "
        "CASE WHEN categories::text = '[]' THEN 0::int8 ELSE COALESCE(("
        "SELECT bit_or(b.bit) FROM json_array_elements_text(categories) AS c(name) "
        "JOIN (VALUES {bits}) AS b(name, bit) ON b.name = c.name), 0)::int8 END "
        "FROM {table} WHERE active) TO STDOUT (FORMAT binary)"
    ).format(bits=bits, table=sql.Identifier(Subscriber.__tablename__), slots=sql.Literal(SLOTS))


def _load_active_pg_copy(s: Session) -> PlaceArrays:
    """PostgreSQL: COPY ... TO STDOUT (FORMAT binary) inside the session's transaction."""
    raw = s.connection().connection.driver_connection
    columns: dict[str, list[np.ndarray]] = {name: [] for name in ("pk", "lat", "lon", "radius", "cats")}
    pending = bytearray()
    header_done = False

    def decode(final: bool) -> None:
        nonlocal header_done
        if not header_done:
            if len(pending) < 19:
                return
            if bytes(pending[:11]) != _COPY_SIGNATURE:
                raise RuntimeError("unexpected COPY header from PostgreSQL")
            extension = int.from_bytes(pending[15:19], "big")
            if len(pending) < 19 + extension:
                return
            del pending[: 19 + extension]
            header_done = True
        usable = len(pending) - (2 if final else 0)  # the trailer: a field count of -1
        whole = usable // _COPY_RECORD.itemsize * _COPY_RECORD.itemsize
        if whole:
            records = np.frombuffer(bytes(pending[:whole]), dtype=_COPY_RECORD)
            if not ((records["fields"] == 5).all() and all((records[f"{n}_len"] == 8).all() for n in columns)):
                raise RuntimeError("unexpected COPY record layout from PostgreSQL")
            for name, parts in columns.items():
                parts.append(records[name].astype(np.int64 if name in ("pk", "cats") else np.float64))
            del pending[:whole]

    with raw.cursor().copy(_pg_copy_query()) as copy:
        for data in copy:
            pending += data
            if len(pending) >= _COPY_DECODE_BYTES:
                decode(final=False)
    decode(final=True)
    if bytes(pending) != b"\xff\xff":
        raise RuntimeError("unexpected end of the COPY data from PostgreSQL")
    pk, lat, lon, radius, cats = (
        np.concatenate(parts) if parts else np.empty(0, dtype=np.int64 if name in ("pk", "cats") else np.float64)
        for name, parts in columns.items()
    )
    return _with_places(s, (pk, lat, lon, radius, cats))


def _pack(klass, cell):
    # Cells are whole hundredths of a degree of latitude: -9000..9000 fits in 16 bits.
    return (klass << 20) + (cell + 10_000)


@dataclass(frozen=True)
class _Changes:
    """The places of the residents changed since the arrays were built, kept whole and
    replaced, never edited, so a match reads a consistent set without copying it: the changed
    places that count, as arrays, and which entries of the arrays they replace (a flag per key)."""

    rows: dict[int, tuple[float, float, float, int] | None]  # key -> (lat, lon, radius, cats); None: gone
    schedules: dict  # key -> schedule, for the changed places that have one
    timetable: _Schedules  # the same, as arrays
    pk: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    radius: np.ndarray
    cats: np.ndarray
    shadowed: np.ndarray  # bool by key, up to the arrays' largest key

    @classmethod
    def of(cls, rows: dict, schedules: dict, base: PlaceArrays) -> "_Changes":
        live = [(pk, *row) for pk, row in rows.items() if row is not None]
        pk, lat, lon, radius, cats = (np.array(col) for col in zip(*live)) if live else ([],) * 5
        shadowed = np.zeros(int(base.pk.max()) + 1 if len(base.pk) else 0, dtype=bool)
        keys = np.fromiter(rows.keys(), dtype=np.int64, count=len(rows))
        shadowed[keys[(keys >= 0) & (keys < len(shadowed))]] = True
        return cls(
            rows,
            schedules,
            _Schedules.of(schedules) if schedules else _NO_SCHEDULES,
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


class SubscriberIndex:
    """Active subscribers' places by position and radius; `match` answers with subscriber keys."""

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
        self._base: PlaceArrays | None = None
        self._built_at: datetime | None = None
        # When the database was last read (this process's clock).
        self._looked_at: datetime | None = None
        # The places of the residents changed since the arrays were built (None: none).
        self._changes: _Changes | None = None

    # --- keeping in step ---------------------------------------------------------------

    def rebuild(self) -> None:
        started = self.clock()
        with self.db.read() as s:
            arrays = _load_active(s)
        with self._lock:
            self._base, self._changes = arrays, None
            self._built_at = self._looked_at = started

    def refresh(self) -> None:
        """Rebuild when due, else read the rows changed since the last look. Serialized: the
        dispatcher and request threads may ask at the same time."""
        with self._refresh_lock:
            now = self.clock()
            if self._base is None or now - self._built_at >= self.rebuild_every:
                self.rebuild()
                return
            # A row this process has not seen yet was committed after the last look, so it was
            # written at most a look-back before it (a transaction's length plus the clock skew
            # between hosts, both far below two minutes). Not the newest updated_at seen: after
            # a bulk import and nothing since, that would re-read the whole import every time.
            # Every change of a resident's places sets their updated_at too.
            since = self._looked_at - self.lookback
            with self.db.read() as s:
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
                extra = _place_rows(s, [row[0] for row in rows if row[5]]) if rows else []
            known = self._changes.rows if self._changes is not None else {}
            merged = dict(known)
            schedules = dict(self._changes.schedules) if self._changes is not None else {}
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
            if merged != known or (self._changes is not None and schedules != self._changes.schedules):
                changes = _Changes.of(merged, schedules, self._base)
            else:
                changes = self._changes
            with self._lock:
                self._changes, self._looked_at = changes, now
            if len(merged) > self.max_overrides:
                self.rebuild()

    # --- queries -----------------------------------------------------------------------

    def _places(self, lat: float, lon: float, cap_m: float, category: str | None, at: datetime | None):
        """The places that hold the point and count at `at`: their keys, and a function giving
        their latitudes and longitudes (only `nearest` needs them: a match does not gather them)."""
        with self._lock:
            base, changes = self._base, self._changes
        if base is None:
            raise RuntimeError("SubscriberIndex.match before refresh()")
        bit = _CATEGORY_BIT.get(category, 0) if category else 0
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
    def _closed(keys: np.ndarray, base: PlaceArrays, changes: _Changes | None, at: datetime) -> np.ndarray | None:
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
