"""Engines tuned per dialect, and the two kinds of transaction the services use."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_READONLY = "dealsvc_readonly"
SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalize_url(url: str) -> str:
    """postgresql:// means psycopg 3, the driver the project ships."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pre_ping: bool = True, **kwargs) -> Engine:
    """`pre_ping`: each checkout of a pooled PostgreSQL connection first checks it answers, so a
    connection the server dropped (a restart) is replaced before a request uses it. A caller
    that retries a failed transaction anyway may go without (one round trip a transaction)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # The directory must exist (bootstrap makes the service's own var/; preflight.py says
        # how to make any other): a typo in a path is not silently a new, empty database.
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            # Error messages must not carry bound values: FCM tokens stay out of logs.
            hide_parameters=True,
            **kwargs,
        )
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=pre_ping, pool_size=10, max_overflow=10, hide_parameters=True, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Take transaction control from the sqlite3 module so BEGIN below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        # Writers take the write lock up front, so concurrent writers queue on the busy
        # timeout instead of failing with "database is locked" when a read turns into a write.
        if connection.get_execution_options().get(_READONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


# See index_scans().
_INDEX_SCANS = text("SET LOCAL enable_seqscan = off")


def index_scans(session: Session) -> None:
    """On PostgreSQL, the rest of this transaction reads tables through their indexes. For the
    transactions whose statements each find a few hundred rows by key among many (a push batch's
    residents, its notifications by id): PostgreSQL costs that below a scan of the whole table
    while the table is small for its cost model (a random read costed as four sequential ones),
    or has no statistics yet (a fresh outbox, residents just imported): measured in the fan-out
    bench, a scan of every notification per batch recorded, of every resident per batch claimed.
    In memory, a probe per key costs a fraction of that. SQLite: nothing to do."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_INDEX_SCANS)


class Database:
    """Transactions for the services: `write()` commits on success, `read()` never writes."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._writer = sessionmaker(engine, expire_on_commit=False)
        self._reader = sessionmaker(
            engine.execution_options(**{_READONLY: True}), expire_on_commit=False
        )
        # PostgreSQL without a transaction: no BEGIN and ROLLBACK round trips.
        self._statement_engine = engine.execution_options(
            **({"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}), **{_READONLY: True}
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._writer.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def read_statements(self) -> Iterator[Connection]:
        """A Core connection for reads that need no snapshot shared by their statements: on
        PostgreSQL each statement runs on its own and sees everything committed before it
        began (as in read committed); on SQLite, one read transaction. For hot read paths: no
        ORM session, and two round trips fewer on PostgreSQL."""
        with self._statement_engine.connect() as conn:
            if self.dialect == "postgresql":
                yield conn
                return
            transaction = conn.begin()
            try:
                yield conn
            finally:
                transaction.rollback()

    def ping(self) -> None:
        with self.engine.execution_options(**{_READONLY: True}).connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
