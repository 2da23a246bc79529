"""Scheduled price steps: the scheduler applies those due, each with its push promised in the same transaction."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select

from ..adapters.db import Database
from ..adapters.db.models import Fanout, Offer
from ..domain import offers as offer_rules
from ..domain.clock import Clock
from ..domain.pricing import catch_up, steps_from_json, steps_to_json
from ..domain.outbox import FanoutKind

log = logging.getLogger(__name__)


class PriceStepService:
    """Idempotent: a step is applied once, whoever gets there first (the periodic job, a job
    after a takeover), because applying it moves next_step_at past now under the row lock."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def apply_due(self, limit: int = 200) -> list[tuple[str, int]]:
        """Every live offer whose next step is due takes the latest due step; returns
        (offer id, step number) of each step applied."""
        now = self.clock()
        with self.db.read() as s:
            # Only offers with a step due are read, through ix_offers_next_step_at (ended offers
            # have none). `status || ''` keeps the planners off ix_offers_status_expires_at,
            # which SQLite otherwise prefers and which would walk every live offer.
            due = s.scalars(
                select(Offer.id)
                .where(
                    Offer.next_step_at <= now,
                    Offer.status.concat("") == offer_rules.ACTIVE,
                    Offer.expires_at > now,
                )
                .order_by(Offer.next_step_at)
                .limit(limit)
            ).all()
        applied = [done for done in (self._apply(offer_id, now) for offer_id in due) if done is not None]
        # Only after each commit: a process killed before it must not claim a step that never happened.
        for offer_id, step, price_cents in applied:
            log.info("offer %s: price step %d applied, now %d cents", offer_id, step, price_cents)
        return [(offer_id, step) for offer_id, step, _ in applied]

    def _apply(self, offer_id: str, now: datetime) -> tuple[str, int, int] | None:
        """One offer in its own transaction: a failure on one leaves the others applied."""
        with self.db.write() as s:
            # Checked again under the lock: the offer may have sold out, been withdrawn or
            # rescheduled since it was read. A row locked by its owner's PATCH waits for the next run.
            offer = s.scalar(
                select(Offer)
                .where(
                    Offer.id == offer_id,
                    Offer.next_step_at <= now,
                    Offer.status == offer_rules.ACTIVE,
                    Offer.expires_at > now,
                )
                .with_for_update(skip_locked=True)
            )
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
            s.add(Fanout(offer_id=offer.id, kind=FanoutKind.PRICE, seq=reached, due_at=now, created_at=now))
            return offer.id, reached, step.price_cents
