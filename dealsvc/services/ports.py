"""What the services need of the database, as small interfaces (ports).

A service is given a `Transactions` and, inside each transaction, works through the queries that
the transaction yields; it declares the few it uses as a Protocol of its own (`FavoriteQueries`
in favorites.py, for instance). The SQL implementation of every query is in
`adapters/db/queries/` (one module per topic, composed into one object per transaction); a
service never writes SQL, so it can also run on an in-memory fake (tests/support/fakes.py), and
one contract test holds both to the same behaviour."""
from __future__ import annotations

from typing import ContextManager, Protocol, TypeVar

Q = TypeVar("Q", covariant=True)


class Transactions(Protocol[Q]):
    def read(self) -> ContextManager[Q]:
        """A transaction that never writes (on SQLite it takes no write lock)."""

    def write(self) -> ContextManager[Q]:
        """A transaction committed when the block ends normally, rolled back on an exception."""


class AlreadyStored(Exception):
    """A row with the same key was stored meanwhile by a concurrent transaction (which committed
    first): the transaction is lost; the caller may start again and find that row."""
