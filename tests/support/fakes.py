"""In-memory implementations of the services' ports (dealsvc/services/ports.py), for unit tests
of the services: the same queries as adapters/db/queries, on dicts. The contract tests
(tests/integration/test_store_contracts.py) hold them and the SQL to the same behaviour.

A transaction works on the store's rows and, like the database, keeps nothing of a block that
raised: it puts back a copy taken when the block began."""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterator


@dataclass
class Row:
    """A stored row: its columns as attributes (what the services read of an ORM object)."""

    def __init__(self, **columns):
        self.__dict__.update(columns)

    def __repr__(self) -> str:
        return f"Row({self.__dict__})"


@dataclass
class Tables:
    subscribers: dict[str, Row] = field(default_factory=dict)  # by id
    shops: dict[str, Row] = field(default_factory=dict)  # by id
    favorites: dict[tuple[int, str], Row] = field(default_factory=dict)  # by (subscriber_pk, shop_id)
    # offers group's tables

    # operators group's tables

    # residents group's tables

    # numbers group's tables


class MemoryQueries:
    """The queries of adapters/db/queries, on Tables."""

    def __init__(self, tables: Tables):
        self.t = tables

    # subscribers
    def live_subscriber(self, subscriber_id: str, *, lock: bool = False) -> Row | None:
        sub = self.t.subscribers.get(subscriber_id)
        return sub if sub is not None and sub.deleted_at is None else None

    # shops
    def shop(self, shop_id: str) -> Row | None:
        return self.t.shops.get(shop_id)

    # favourites
    def favorites_of(self, subscriber_pk: int) -> list[tuple[Row, Row]]:
        mine = [f for (pk, _), f in self.t.favorites.items() if pk == subscriber_pk]
        mine.sort(key=lambda f: (f.created_at, f.shop_id))
        return [(f, self.t.shops[f.shop_id]) for f in mine]

    def favorite(self, subscriber_pk: int, shop_id: str) -> Row | None:
        return self.t.favorites.get((subscriber_pk, shop_id))

    def count_favorites(self, subscriber_pk: int) -> int:
        return sum(1 for pk, _ in self.t.favorites if pk == subscriber_pk)

    def add_favorite(self, subscriber_pk: int, shop_id: str, now: datetime) -> Row:
        favorite = Row(subscriber_pk=subscriber_pk, shop_id=shop_id, created_at=now)
        self.t.favorites[(subscriber_pk, shop_id)] = favorite
        return favorite

    def remove_favorite(self, favorite: Row) -> None:
        del self.t.favorites[(favorite.subscriber_pk, favorite.shop_id)]

    # --- offers, shops, lifecycle, price steps, photos, idempotency ------------------------------

    # --- merchants, auth, rules, audit, erasure, outage, breaker, activity -----------------------

    # --- subscribers, followers, retention, reservations -----------------------------------------

    # --- figures, maps, funnel, scheduler --------------------------------------------------------


class MemoryStore:
    """Transactions (services/ports.Transactions) on in-memory tables."""

    def __init__(self):
        self.tables = Tables()
        self._next_pk = 1

    @contextmanager
    def write(self) -> Iterator[MemoryQueries]:
        before = copy.deepcopy(self.tables)
        try:
            yield MemoryQueries(self.tables)
        except BaseException:
            self.tables = before
            raise

    read = write  # a reading service never writes; nothing to enforce in memory

    # Rows for a test to start from (the SQL tests insert them with the models).
    def add_subscriber(self, subscriber_id: str, *, deleted_at: datetime | None = None) -> int:
        pk, self._next_pk = self._next_pk, self._next_pk + 1
        self.tables.subscribers[subscriber_id] = Row(pk=pk, id=subscriber_id, deleted_at=deleted_at)
        return pk

    def add_shop(self, shop_id: str, name: str = "Forno Rossi", category: str = "bakery") -> None:
        self.tables.shops[shop_id] = Row(id=shop_id, name=name, category=category)
