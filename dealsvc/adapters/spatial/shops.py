"""The shops within a radius of a point, from an in-memory index in each process, kept in step
with the database in the same transaction as the question.

The layout is the residents' index (spatial.grid: latitude cells, each sorted by longitude, and
`geo.within_many` deciding exactly); a shop has no radius of its own, so every shop sits in one
class whose reach is the query's radius. The index only prunes by place: which offers are live
(status, stock, expiry) is always asked of the database. Before each query it reads the shops
changed since it last looked (refresher), inside the caller's transaction, so a shop created a moment ago by
another process is found by the very next request anywhere; a shop changed more than the
look-back ago and already seen is never read again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from ...domain import geo
from ...domain.clock import Clock
from ..db import Database
from ..db.models import Shop
from .grid import PlaceArrays
from .refresher import LOOKBACK, REBUILD_EVERY, Refresher

# Distances from numpy and from math may differ in their last bits; shops closer together
# than this stay in the same batch, so cutting a batch never separates a near-tie.
TIE_M = 1e-6

# A shop as the index keeps it: what the listing shows of it.
ShopRow = tuple  # (id, lat, lon, name, address, opening_hours, timezone)
_SHOWN = (Shop.id, Shop.lat, Shop.lon, Shop.name, Shop.address, Shop.opening_hours, Shop.timezone)

_CHANGED = select(*_SHOWN, Shop.updated_at).where(
    Shop.updated_at >= bindparam("since")
)


@dataclass(frozen=True)
class ShopSnapshot:
    """The shops as the index answers from them: the arrays as built, and the shops new or
    changed since, which replace their entries of the arrays."""

    arrays: PlaceArrays  # pk = position in `rows`
    rows: np.ndarray  # pk -> ShopRow (object array)
    pk_of: dict[str, int]
    # Shops new or changed since the arrays were built: id -> ShopRow.
    overrides: dict[str, ShopRow] = field(default_factory=dict)
    shadowed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @classmethod
    def build(cls, rows: list[ShopRow]) -> "ShopSnapshot":
        table = np.empty(len(rows), dtype=object)
        table[:] = [tuple(r) for r in rows]
        lat = np.array([r[1] for r in rows], dtype=np.float64)
        lon = np.array([r[2] for r in rows], dtype=np.float64)
        n = len(rows)
        arrays = PlaceArrays.from_columns(np.arange(n), lat, lon, np.full(n, np.inf), np.zeros(n))
        return cls(arrays, table, {r[0]: pk for pk, r in enumerate(rows)})

    def get(self, shop_id: str) -> ShopRow | None:
        if shop_id in self.overrides:
            return self.overrides[shop_id]
        pk = self.pk_of.get(shop_id)
        return None if pk is None else self.rows[pk]

    def with_changes(self, changes: dict[str, ShopRow], compact_above: int) -> "ShopSnapshot":
        overrides = {**self.overrides, **changes}
        if len(overrides) > compact_above:
            kept = [r for r in self.rows.tolist() if r[0] not in overrides]
            return ShopSnapshot.build(kept + list(overrides.values()))
        shadowed = np.array(sorted(self.pk_of[i] for i in overrides if i in self.pk_of), dtype=np.int64)
        return ShopSnapshot(self.arrays, self.rows, self.pk_of, overrides, shadowed)


@dataclass(frozen=True)
class NearShops:
    """The shops within the radius, nearest first, with their approximate distances (m)."""

    shops: list[ShopRow]
    distances: np.ndarray

    def __len__(self) -> int:
        return len(self.shops)

    def near_ties(self, start: int, stop: int) -> bool:
        """Whether two shops in [start, stop) at different places are within TIE_M of each
        other: there the order of `distances` and of geo.approx_m may differ."""
        close = np.flatnonzero(np.diff(self.distances[start:stop]) <= TIE_M) + start
        shops = self.shops
        return any(shops[i][1:3] != shops[i + 1][1:3] for i in close.tolist())

    def batch_end(self, start: int, size: int) -> int:
        """Where a batch of about `size` shops from `start` may end: never between two shops
        whose distances are within TIE_M of each other."""
        stop = min(start + size, len(self.shops))
        if stop >= len(self.shops):
            return len(self.shops)
        gaps = np.flatnonzero(np.diff(self.distances[stop - 1 :]) > TIE_M)
        return stop + int(gaps[0]) if len(gaps) else len(self.shops)


class ShopIndex:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        lookback: timedelta = LOOKBACK,
        rebuild_every: timedelta = REBUILD_EVERY,
        compact_above: int = 256,
    ):
        self.db = db
        self.compact_above = compact_above
        self._refresher: Refresher[ShopSnapshot] = Refresher(clock, lookback=lookback, rebuild_every=rebuild_every)

    # --- keeping in step ---------------------------------------------------------------

    def _loader(self, session: Session | Connection | None):
        def load() -> ShopSnapshot:
            if session is None:
                with self.db.read() as s:
                    rows = s.execute(select(*_SHOWN)).all()
            else:
                rows = session.execute(select(*_SHOWN)).all()
            return ShopSnapshot.build(rows)

        return load

    def rebuild(self, session: Session | Connection | None = None) -> None:
        """Every shop from the database. Deleted shops only linger until this runs, which is
        harmless: a shop that is gone has no offers to list."""
        self._refresher.rebuild(self._loader(session))

    def refresh(self, session: Session | Connection) -> ShopSnapshot:
        """Read the shops changed since the last look, in the caller's transaction, and answer
        with a snapshot that holds them. Every caller reads for itself: a read that another
        thread began earlier may have missed what this caller must see."""
        snapshot = self._refresher.rebuild_if_due(self._loader(session))
        if snapshot is not None:
            return snapshot
        started, since = self._refresher.look()
        rows = session.execute(_CHANGED, {"since": since}).all()

        def fold(snapshot: ShopSnapshot) -> ShopSnapshot:
            # The look-back reads the same rows again for a while: only a real change costs work.
            changes = {row[0]: row for row in (tuple(r[:-1]) for r in rows) if snapshot.get(row[0]) != row}
            return snapshot.with_changes(changes, self.compact_above) if changes else snapshot

        return self._refresher.merge(started, fold)

    # --- queries -----------------------------------------------------------------------

    def near(self, session: Session | Connection, lat: float, lon: float, radius_m: float) -> NearShops:
        """The shops whose geodesic distance from the point is <= radius_m, nearest first."""
        return self.match(self.refresh(session), lat, lon, radius_m)

    @staticmethod
    def match(snapshot: ShopSnapshot, lat: float, lon: float, radius_m: float) -> NearShops:
        a = snapshot.arrays
        idx = a.candidates(lat, lon, float(radius_m))
        if len(snapshot.shadowed) and len(idx):
            idx = idx[~np.isin(a.pk[idx], snapshot.shadowed)]
        if len(idx):
            inside = geo.within_many(lat, lon, a.lat[idx], a.lon[idx], np.full(len(idx), float(radius_m)))
            idx = idx[inside]
        shops = snapshot.rows[a.pk[idx]].tolist()
        lats, lons = a.lat[idx], a.lon[idx]
        if snapshot.overrides:
            box = geo.reach_box(lat, lon, radius_m)
            extra = [
                row for row in snapshot.overrides.values()
                if box.contains(row[1], row[2]) and geo.within(lat, lon, row[1], row[2], radius_m)
            ]
            if extra:
                shops += extra
                lats = np.concatenate([lats, [row[1] for row in extra]])
                lons = np.concatenate([lons, [row[2] for row in extra]])
        distances = geo.approx_many(lat, lon, lats, lons)
        order = np.argsort(distances, kind="stable")
        return NearShops([shops[i] for i in order.tolist()], distances[order])
