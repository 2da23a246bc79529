"""The outbox's array parameters (adapters/db/queries/outbox/tables.py, pg_array) are read back
by PostgreSQL as the values they were made of: numbers, NULLs, and any text an FCM message id or
a day could hold. (SQLite's statements take no arrays.)"""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from dealsvc.adapters.db.queries.outbox.tables import pg_array
from tests.support.databases import shared_engine

CASES = {
    "integer": [1, 0, -7, 2_147_483_647, np.int64(42), None],
    "double precision": [0.0, 1.5, 1234.5678, 1e-07, 1e20, np.float64(812.25), None],
    "varchar": ["projects/p/messages/0:1765000000%abc", 'a "quoted" word', "back\\slash", "a,b", "{braces}",
                "  spaced  ", "", "NULL", "città €", None],
}


@pytest.fixture(scope="module")
def pg(request):
    from config.testing import test_database_url

    url = test_database_url()
    if url is None:
        pytest.skip("DEALSVC_TEST_DATABASE_URL=none: PostgreSQL's arrays need PostgreSQL")
    return shared_engine(url)


@pytest.mark.parametrize("sql_type", CASES)
def test_every_value_comes_back_as_it_was(pg, sql_type):
    values = CASES[sql_type]
    with pg.connect() as conn:
        back = conn.execute(text(f"SELECT CAST(:values AS {sql_type}[])"), {"values": pg_array(values)}).scalar_one()
    assert back == [v.item() if isinstance(v, np.generic) else v for v in values]


def test_no_values_is_an_empty_array(pg):
    with pg.connect() as conn:
        assert conn.execute(text("SELECT CAST(:values AS integer[])"), {"values": pg_array([])}).scalar_one() == []
