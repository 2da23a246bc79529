"""The services' queries in SQL (dealsvc/adapters/db/queries) keep their contract on SQLite and
PostgreSQL, the same the in-memory fake keeps (tests/support/contracts.py)."""
import pytest

from tests.support.contracts import CHECKS, SqlWorld


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_sql_keeps_the_contract(check, api, container):
    check(SqlWorld(api, container))
