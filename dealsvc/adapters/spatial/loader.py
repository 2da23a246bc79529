"""The active residents' places read from the database into `PlaceArrays`, without a Python
object per row: PostgreSQL sends them as binary COPY records (copy_decoder), other engines in
chunks of rows."""
from __future__ import annotations

import json

import numpy as np
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from ...domain import places
from ..db.models import Subscriber, SubscriberPlace
from .copy_decoder import decode_copy
from .grid import CATEGORY_BITS, SLOTS, PlaceArrays, category_mask

# Rows per fetch while loading: a bounded buffer whatever the number of residents.
_LOAD_CHUNK = 50_000


def place_rows(s: Session, pks: list[int] | None = None) -> list[tuple]:
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


def with_places(s: Session, main: tuple) -> PlaceArrays:
    """The main places' columns (keys already scaled) joined by every extra place."""
    extra = place_rows(s)
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


def load_active(s: Session) -> PlaceArrays:
    """The active residents as numpy columns, without a Python object per row.

    At a million rows the plain way (every row a tuple, the category lists decoded row by row)
    took 9 s with a 760 MB peak in a fresh process, 20-30 s in a busy one; this takes about 2 s
    with a 280 MB peak (bench/match_pg.py). PostgreSQL sends the rows as binary COPY records of
    fixed width, decoded by numpy a few megabytes at a time; other engines stream in chunks."""
    if s.get_bind().dialect.name == "postgresql":
        return _load_active_pg_copy(s)
    return load_active_streamed(s)


def load_active_streamed(s: Session) -> PlaceArrays:
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
    return with_places(s, (pk * SLOTS, lat, lon, radius, cats))


# The columns of the COPY: all 8-byte and never NULL (NOT NULL columns, the mask coalesced),
# so every record has the same width (copy_decoder).
_COPY_COLUMNS = (("pk", ">i8"), ("lat", ">f8"), ("lon", ">f8"), ("radius", ">f8"), ("cats", ">i8"))


def _pg_copy_query():
    from psycopg import sql

    # The category bits computed by the server, from the same table as category_mask.
    bits = sql.SQL(", ").join(
        sql.SQL("({}, {})").format(sql.Literal(name), sql.Literal(bit)) for name, bit in CATEGORY_BITS.items()
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
    with raw.cursor().copy(_pg_copy_query()) as copy:
        columns = decode_copy(copy, _COPY_COLUMNS)
    return with_places(s, tuple(columns[name] for name, _ in _COPY_COLUMNS))
