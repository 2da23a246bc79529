"""A worker's run of failures: the database's errors (as the db adapter raises them) are an
outage told once and quietly retried; any other error is the worker's own fault, told each time."""
import logging

from sqlalchemy.exc import OperationalError

import dealsvc.adapters.db.store  # noqa: F401  (registers the driver's errors, as bootstrap does)
from dealsvc.services.outage import Outage


def test_a_database_outage_is_told_once_and_a_bug_every_time(caplog):
    outage = Outage("dispatcher", logging.getLogger("test.outage"), max_s=4, rng=lambda: 1.0, monotonic=lambda: 0.0)
    lost = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    with caplog.at_level(logging.DEBUG, logger="test.outage"):
        waits = [outage.failed(lost) for _ in range(4)]
        outage.succeeded()
        outage.failed(ValueError("a bad row"))
        outage.failed(ValueError("a bad row"))
    assert waits == [0.5, 1.0, 2.0, 4.0]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 3
    assert errors[0].startswith("dispatcher: database unavailable (OperationalError")
    assert "iteration failed" in errors[1] and "still failing (ValueError: a bad row)" in errors[2]
    assert any("working again after 0.0 s (4 failed tries)" in r.getMessage() for r in caplog.records)
