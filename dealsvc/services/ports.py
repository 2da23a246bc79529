"""What the services need of the database, as small interfaces (ports).

A service is given a `Transactions` and, inside each transaction, works through the queries that
the transaction yields; it declares the few it uses as a Protocol of its own (`FavoriteQueries`
in favorites.py, for instance). The SQL implementation of every query is in
`adapters/db/queries/` (one module per topic, composed into one object per transaction); a
service never writes SQL, so it can also run on an in-memory fake (tests/support/fakes.py), and
one contract test holds both to the same behaviour."""
from __future__ import annotations

from abc import ABC
from typing import ContextManager, Protocol, TypeVar

Q = TypeVar("Q", covariant=True)


class IntegrityConflict(Exception):
    """The database refused a write for one of its integrity rules: most often a unique key that
    a concurrent twin of the request took first (the transaction is rolled back)."""


class Transactions(Protocol[Q]):
    def read(self) -> ContextManager[Q]:
        """A transaction that never writes (on SQLite it takes no write lock)."""

    def write(self) -> ContextManager[Q]:
        """A transaction committed when the block ends normally, rolled back on an exception;
        raises IntegrityConflict when the database refuses a write."""


class DatabaseError(ABC):
    """Any error raised by the database or its driver (unreachable, connection lost, shutting
    down, a statement refused...). The SQL implementation registers its driver's errors as this
    (the db adapter's store.py), so a service tells them apart without importing the driver."""
