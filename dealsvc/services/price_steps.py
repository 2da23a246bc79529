"""Scheduled price steps: the scheduler applies those due, each with its push promised in the same transaction."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from ..domain.clock import Clock
from ..domain.pricing import catch_up, steps_from_json, steps_to_json
from ..domain.outbox import FanoutKind
from .ports import Transactions

log = logging.getLogger(__name__)


class PriceStepQueries(Protocol):
    """What PriceStepService needs of the database (SQL: the offers queries of the database adapter)."""

    def offers_with_step_due(self, now: datetime, limit: int) -> list[str]: ...  # live offers' ids, longest due first
    def offer_with_step_due(self, offer_id: str, now: datetime) -> Any | None: ...  # locked; None if held elsewhere
    def add_fanout(self, offer_id: str, kind: str, now: datetime, *, seq: int = 1) -> None: ...


class PriceStepService:
    """Idempotent: a step is applied once, whoever gets there first (the periodic job, a job
    after a takeover), because applying it moves next_step_at past now under the row lock."""

    def __init__(self, store: Transactions[PriceStepQueries], clock: Clock):
        self.store = store
        self.clock = clock

    def apply_due(self, limit: int = 200) -> list[tuple[str, int]]:
        """Every live offer whose next step is due takes the latest due step; returns
        (offer id, step number) of each step applied."""
        now = self.clock()
        with self.store.read() as q:
            due = q.offers_with_step_due(now, limit)
        applied = [done for done in (self._apply(offer_id, now) for offer_id in due) if done is not None]
        # Only after each commit: a process killed before it must not claim a step that never happened.
        for offer_id, step, price_cents in applied:
            log.info("offer %s: price step %d applied, now %d cents", offer_id, step, price_cents)
        return [(offer_id, step) for offer_id, step, _ in applied]

    def _apply(self, offer_id: str, now: datetime) -> tuple[str, int, int] | None:
        """One offer in its own transaction: a failure on one leaves the others applied."""
        with self.store.write() as q:
            # Checked again under the lock: the offer may have sold out, been withdrawn or
            # rescheduled since it was read. A row locked by its owner's PATCH waits for the next run.
            offer = q.offer_with_step_due(offer_id, now)
            if offer is None:
                return None
            steps = steps_from_json(offer.price_steps)
            reached, next_at = catch_up(steps, offer.price_step, now)
            offer.next_step_at = next_at
            if reached == offer.price_step:
                return None  # next_step_at was ahead of the schedule: now it agrees
            step = steps[reached - 1]
            steps[reached - 1] = replace(step, previous_price_cents=offer.price_cents)
            offer.price_steps = steps_to_json(steps)
            offer.price_cents, offer.discount_pct = step.price_cents, step.discount_pct
            offer.price_step = reached
            offer.updated_at = now
            # The outbox: the push about this step commits with the price, or neither does.
            q.add_fanout(offer.id, FanoutKind.PRICE, now, seq=reached)
            return offer.id, reached, step.price_cents
