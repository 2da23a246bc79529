"""The dispatcher's outbox (services/dispatch/, its port in services/dispatch/ports.py): the
statements of its hot path, one module per step, composed into the transaction's queries.
tables.py: what they share; rows.py: the row a claimed push is built from."""
from __future__ import annotations

from .claims import ClaimQueries
from .lease import LeaseQueries
from .planning import PlanningQueries
from .quota import QuotaQueries
from .recording import RecordingQueries
from .rows import RowQueries


class OutboxQueries(PlanningQueries, ClaimQueries, RowQueries, QuotaQueries, RecordingQueries, LeaseQueries):
    """Every step's statements on one session."""


__all__ = ["OutboxQueries"]
