"""The services' queries on the in-memory fake keep the contract the SQL keeps (tests/support/contracts.py)."""
import pytest

from tests.support.contracts import CHECKS, MemoryWorld


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_fake_keeps_the_contract(check):
    check(MemoryWorld())
