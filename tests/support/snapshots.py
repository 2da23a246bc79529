"""A test module's world built through the API once, and put back in the database before each test.

Many modules start every test from the same few merchants, shops, offers and residents, signed
up through the API (a handful of requests, about 0.1-0.2 s of CPU a test). `built_once` builds such a
world for the first test of a module on each database, through the API as before, and keeps
every table's rows as they are then. Each later test still gets a fresh container on an emptied
database (tests/conftest.py `container`); its world is the kept rows written back (one bulk
insert per table, a few ms) and a copy of what the build returned (ids, keys, secrets). A test
therefore starts from exactly the state the build left, whatever the tests before it changed.

What the rows carry:
- ids: the same in every test of the module, as any id the build would have made;
- integer keys (residents, the outbox): a test's new rows never collide with the kept ones.
  PostgreSQL's sequences only go up during a run (emptying a table does not reset them) and the
  kept keys were drawn from them before; SQLite gives a new row the largest key present plus one
  (or more, with AUTOINCREMENT);
- times: those of the build. A world is built again when it is older than MAX_AGE_S, so expiries
  the build set (offers two hours ahead) are still ahead for every test that uses it.

Only the database is kept: a build must leave nothing a test reads anywhere else (files under
the test's var directory, the FCM emulator's messages, the rate limiter's counts all start empty
for each test, as they did). A test uses one such world at most: putting one back empties every
table first.
"""
from __future__ import annotations

import copy
import time
from typing import Any, Callable, TypeVar

import pytest
from sqlalchemy import select

from dealsvc.adapters.db.models import Base

T = TypeVar("T")

# Well inside the shortest expiry a build sets (offers: two hours ahead).
MAX_AGE_S = 15 * 60

_KEPT: dict[tuple[str, str, str], tuple[float, Any, list[tuple[Any, list[dict[str, Any]]]]]] = {}


def built_once(request: pytest.FixtureRequest, container, build: Callable[[], T]) -> T:
    """The world `build` makes through the API: built for this test when the module has none
    on this database yet (or an old one), else the kept one written back into the (emptied)
    database of this test's container. `request` names the module and the fixture."""
    key = (request.module.__name__, request.fixturename, container.settings.database_url)
    kept = _KEPT.get(key)
    if kept is not None and time.monotonic() - kept[0] < MAX_AGE_S:
        _, value, rows = kept
        _restore(container, rows)
        return copy.deepcopy(value)
    value = build()
    _KEPT[key] = (time.monotonic(), copy.deepcopy(value), _capture(container))
    return value


def _capture(container) -> list[tuple[Any, list[dict[str, Any]]]]:
    with container.db.read() as s:
        return [(table, [dict(row) for row in s.execute(select(table)).mappings()])
                for table in Base.metadata.sorted_tables]


def _restore(container, rows: list[tuple[Any, list[dict[str, Any]]]]) -> None:
    with container.db.write() as s:
        for table, _ in reversed(rows):
            s.execute(table.delete())
        for table, table_rows in rows:  # parents before children
            if table_rows:
                s.execute(table.insert(), table_rows)
