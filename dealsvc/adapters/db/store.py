"""The services' transactions (services/ports.py) on SQLAlchemy: each yields the queries of
`adapters/db/queries` bound to its session."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.exc import DBAPIError, IntegrityError

from ...services.ports import DatabaseError, IntegrityConflict
from .queries import Queries
from .queries.deals import DealQueries
from .session import Database

# The driver's errors, as the services' ports name them (services/outage.py tells an outage by them).
DatabaseError.register(DBAPIError)


class Store:
    """Transactions for the services: `write()` commits on success, `read()` never writes; both
    yield the queries (adapters/db/queries) on the transaction's session."""

    def __init__(self, db: Database):
        self.db = db

    @contextmanager
    def write(self) -> Iterator[Queries]:
        try:
            with self.db.write() as session:
                yield Queries(session)
        except IntegrityError as refused:
            raise IntegrityConflict("the database refused the write") from refused

    @contextmanager
    def read(self) -> Iterator[Queries]:
        with self.db.read() as session:
            yield Queries(session)

    @contextmanager
    def read_statements(self) -> Iterator[DealQueries]:
        """Reads without an ORM session, for the hottest path (Database.read_statements)."""
        with self.db.read_statements() as connection:
            yield DealQueries(connection)
