"""An offer's end and its consequences, shared by every path that ends one (sold out,
withdrawn, expired), holds that end by themselves, and the expiry the scheduler drives."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from ..domain import offers as offer_rules
from ..domain.clock import Clock
from ..domain.reservations import EXPIRED as EXPIRED_HOLD, RELEASED
from ..domain.outbox import FanoutKind
from .ports import Transactions

log = logging.getLogger(__name__)


class LifecycleQueries(Protocol):
    """What an offer's end and return need of the database (SQL: the lifecycle queries of the
    database adapter). The offers are rows with their columns as attributes, flushed at commit."""

    def drop_waiting_offer_alerts(self, offer_id: str, reason: str) -> None: ...
    def redue_dropped_offer_alerts(self, offer_id: str, reason: str, now: datetime) -> None: ...
    def add_fanout(self, offer_id: str, kind: str, now: datetime, *, seq: int = 1) -> None: ...
    def has_pending_wave(self, offer_id: str) -> bool: ...
    def last_wave_seq(self, offer_id: str) -> int: ...
    def end_held_reservations(self, offer_id: str, status: str, now: datetime, *, lapsed: bool = False) -> int: ...


class ExpiryQueries(LifecycleQueries, Protocol):
    """What ExpiryService needs of the database."""

    def offer(self, offer_id: str, *, lock: bool = False) -> Any | None: ...
    def offers_locked_skipping_locked(self, offer_ids: list[str]) -> list[Any]: ...
    def offers_with_lapsed_holds(self, now: datetime, limit: int) -> list[str]: ...
    def offers_due_to_expire(self, now: datetime, statuses: list[str], *, offer_id: str | None = None,
                             limit: int | None = None) -> list[Any]: ...


def end_offer(q: LifecycleQueries, offer, status: str, now: datetime) -> None:
    """The offer stops being active: alerts not yet sent are dropped, residents already told
    get a withdrawal (same collapse key, so their alert is replaced), and holds end where the
    offer will not be there to collect."""
    offer.status = status
    offer.updated_at = now
    q.drop_waiting_offer_alerts(offer.id, f"offer_{status}")
    q.add_fanout(offer.id, FanoutKind.WITHDRAW, now)
    if status in (offer_rules.EXPIRED, offer_rules.CANCELLED):
        # For good: its steps will never apply, and rows left due would pile up in the range
        # of ix_offers_next_step_at the price-step job reads. A sold-out offer may come back.
        offer.next_step_at = None
        # Ended holds are no longer taken: their stock counts as left again (unsellable now),
        # so held + collected + quantity_left stays equal to the quantity.
        offer.quantity_left += q.end_held_reservations(
            offer.id, EXPIRED_HOLD if status == offer_rules.EXPIRED else RELEASED, now
        )


def resume_offer(q: LifecycleQueries, offer_id: str, now: datetime) -> None:
    """A sold-out offer sells again (stock released or added): its waves go on with a wave
    now, unless one is already due. The residents already told are not told twice (one alert
    per resident and offer); the next nearest hear of what came back.

    Alerts that were waiting when the offer sold out (quiet hours, a busy queue) were dropped
    for it and never sent: they are due again, or those residents, the nearest, would never
    hear while farther ones do."""
    q.redue_dropped_offer_alerts(offer_id, f"offer_{offer_rules.SOLD_OUT}", now)
    if not q.has_pending_wave(offer_id):
        q.add_fanout(offer_id, FanoutKind.OFFER, now, seq=q.last_wave_seq(offer_id) + 1)


def end_lapsed_holds(q: LifecycleQueries, offer, now: datetime) -> int:
    """The holds of `offer` whose time has come end as expired and their stock goes back; a
    sold-out offer sells again and goes on with a wave. The caller holds the offer's row lock.
    Returns the quantity given back."""
    back = q.end_held_reservations(offer.id, EXPIRED_HOLD, now, lapsed=True)
    if back:
        # Also on an offer past its time but not yet swept: the stock counts as left (unsellable),
        # so held + collected + quantity_left stays equal to the quantity.
        offer.quantity_left += back
        offer.updated_at = now
        if offer_rules.effective_status(offer.status, offer.expires_at, now) == offer_rules.SOLD_OUT:
            resume_offer(q, offer.id, now)
            offer.status = offer_rules.ACTIVE
    return back


# What may expire: an offer still live, sold out or not (a sold-out one may come back until then).
EXPIRABLE = [offer_rules.ACTIVE, offer_rules.SOLD_OUT]


class ExpiryService:
    """Expires offers at expires_at. Idempotent: an offer is expired once, whoever gets there
    first (its date job, the sweep, a second scheduler that lost its lease)."""

    def __init__(self, store: Transactions[ExpiryQueries], clock: Clock):
        self.store = store
        self.clock = clock

    def expire_offer(self, offer_id: str) -> bool:
        now = self.clock()
        with self.store.write() as q:
            found = q.offers_due_to_expire(now, EXPIRABLE, offer_id=offer_id)
            if not found:
                return False
            expired = [self._expire(q, found[0], now)]
        self._log(expired)
        return True

    def expire_due(self, limit: int = 500) -> list[str]:
        """The sweep: every offer past its time that is still active or sold out."""
        now = self.clock()
        with self.store.write() as q:
            expired = [self._expire(q, offer, now) for offer in q.offers_due_to_expire(now, EXPIRABLE, limit=limit)]
        self._log(expired)
        return [offer_id for offer_id, _ in expired]

    def expire_holds(self, offer_id: str) -> int:
        """The date job of a hold: the offer's holds whose time has come end, their stock goes back."""
        now = self.clock()
        with self.store.write() as q:
            # Waits for the row rather than skipping it: a reservation holds it for milliseconds,
            # and the hold's stock is due back now.
            offer = q.offer(offer_id, lock=True)
            back = end_lapsed_holds(q, offer, now) if offer is not None else 0
        if back:
            log.info("offer %s: %d items back from holds that ran out", offer_id, back)
        return back

    def expire_due_holds(self, limit: int = 500) -> dict[str, int]:
        """The sweep of holds: every offer with a hold past its time still held; the quantity
        given back, by offer."""
        now = self.clock()
        with self.store.write() as q:
            due = q.offers_with_lapsed_holds(now, limit)
            if not due:
                return {}
            # In key order, the order every other path locks offers in; one locked by a
            # reservation or a change waits for the next sweep.
            given = {offer.id: end_lapsed_holds(q, offer, now) for offer in q.offers_locked_skipping_locked(due)}
        given = {offer_id: back for offer_id, back in given.items() if back}
        for offer_id, back in given.items():
            log.info("offer %s: %d items back from holds that ran out", offer_id, back)
        return given

    def _expire(self, q: ExpiryQueries, offer, now: datetime) -> tuple[str, float]:
        end_offer(q, offer, offer_rules.EXPIRED, now)
        return offer.id, (now - offer.expires_at).total_seconds() * 1000

    @staticmethod
    def _log(expired: list[tuple[str, float]]) -> None:
        # Only after the commit: a process killed before it must not claim an expiry that never happened.
        for offer_id, lateness_ms in expired:
            log.info("offer %s expired, %.0f ms after its time", offer_id, lateness_ms)
