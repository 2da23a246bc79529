"""What the outbox's statements share: its tables, the size of one statement's chunk of rows, and
the switch of its hot transactions to index scans."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable

from sqlalchemy import Integer, any_, bindparam, cast
from sqlalchemy.dialects.postgresql import ARRAY

from ...models import Notification, PushBatch
from ...session import index_scans
from ..base import OnSession

# The most rows (or keys) one statement carries.
INSERT_CHUNK = 2000
NOTIFICATIONS = Notification.__table__
BATCHES = PushBatch.__table__


def naive_utc(moment: datetime) -> datetime:
    """As UTCDateTime stores it (text() statements bypass the column type)."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def pg_array(values: Iterable[int | float | str | None]) -> str:
    """`values` as one PostgreSQL array literal, the parameter of a CAST(:x AS type[]). psycopg
    dumps a list element by element in Python, about 0.5 µs each, and the outbox's statements
    carry some ten elements a push; this text is one join (0.1 µs an element). The server reads
    the same text either way."""
    return "{" + ",".join(map(_array_element, values)) + "}"


def _array_element(value: int | float | str | None) -> str:
    if value is None:
        return "NULL"
    if value.__class__ is str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)  # int, float (numpy's too): written as PostgreSQL reads them


class OnOutbox(OnSession):
    def among(self, column, keys: list[int], name: str):
        """`column` is one of the integer `keys`: on PostgreSQL one array parameter named `name`
        (pg_array), so the statement's text stays the same whatever the number of keys and
        neither psycopg nor the server parses it again; elsewhere an IN list."""
        if self.is_pg:
            return column == any_(cast(bindparam(name, pg_array(keys)), ARRAY(Integer)))
        return column.in_(keys)

    def index_scans(self) -> None:
        """The rest of the transaction reads its tables through their indexes (session.py's
        index_scans: PostgreSQL only)."""
        index_scans(self.session)
