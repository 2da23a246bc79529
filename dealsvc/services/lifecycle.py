"""An offer's end and its consequences, shared by every path that ends one (sold out,
withdrawn, expired), holds that end by themselves, and the expiry the scheduler drives."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from ..adapters.db import Database
from ..adapters.db.models import Fanout, Notification, Offer, PushBatch, Reservation
from ..domain import offers as offer_rules
from ..domain.clock import Clock
from ..domain.reservations import EXPIRED as EXPIRED_HOLD, HELD, RELEASED
from ..domain.outbox import FanoutKind, PushKind, PushStatus

log = logging.getLogger(__name__)


def end_offer(s: Session, offer: Offer, status: str, now: datetime) -> None:
    """The offer stops being active: alerts not yet sent are dropped, residents already told
    get a withdrawal (same collapse key, so their alert is replaced), and holds end where the
    offer will not be there to collect."""
    offer.status = status
    offer.updated_at = now
    # Alerts still waiting in a batch no dispatcher has claimed go too (a claimed batch's are
    # its claimer's: its screening drops them). Those batches are locked first, so a claim
    # cannot take one meanwhile (it skips it, or takes it after this commits, without them).
    unclaimed = s.scalars(
        select(PushBatch.id)
        .where(PushBatch.attempts == 0, PushBatch.id.in_(
            select(Notification.batch_id).where(Notification.offer_id == offer.id, Notification.status == PushStatus.SENDING)
        ))
        .order_by(PushBatch.id)
        .with_for_update()
    ).all()
    waiting = Notification.status == PushStatus.PENDING
    if unclaimed:
        waiting = or_(waiting, and_(Notification.status == PushStatus.SENDING, Notification.batch_id.in_(unclaimed)))
    s.execute(
        update(Notification)
        .where(Notification.offer_id == offer.id, Notification.kind == PushKind.OFFER, waiting)
        .values(status=PushStatus.DROPPED, reason=f"offer_{status}", pending_due_at=None, lease_until=None,
                batch_id=None)
    )
    s.add(Fanout(offer_id=offer.id, kind=FanoutKind.WITHDRAW, due_at=now, created_at=now))
    if status in (offer_rules.EXPIRED, offer_rules.CANCELLED):
        # For good: its steps will never apply, and rows left due would pile up in the range
        # of ix_offers_next_step_at the price-step job reads. A sold-out offer may come back.
        offer.next_step_at = None
        # Ended holds are no longer taken: their stock counts as left again (unsellable now),
        # so held + collected + quantity_left stays equal to the quantity. RETURNING counts
        # exactly the rows this UPDATE ended, not a hold collected a moment before.
        ended = s.scalars(
            update(Reservation)
            .where(Reservation.offer_id == offer.id, Reservation.status == HELD)
            .values(status=EXPIRED_HOLD if status == offer_rules.EXPIRED else RELEASED, updated_at=now)
            .returning(Reservation.quantity)
        ).all()
        offer.quantity_left += sum(ended)


def resume_offer(s: Session, offer_id: str, now: datetime) -> None:
    """A sold-out offer sells again (stock released or added): its waves go on with a wave
    now, unless one is already due. The residents already told are not told twice (one alert
    per resident and offer); the next nearest hear of what came back.

    Alerts that were waiting when the offer sold out (quiet hours, a busy queue) were dropped
    for it and never sent: they are due again, or those residents, the nearest, would never
    hear while farther ones do."""
    s.execute(
        update(Notification)
        .where(
            Notification.offer_id == offer_id,
            Notification.kind == PushKind.OFFER,
            Notification.status == PushStatus.DROPPED,
            Notification.reason == f"offer_{offer_rules.SOLD_OUT}",
        )
        .values(status=PushStatus.PENDING, reason=None, due_at=now, pending_due_at=now, lease_until=None)
    )
    pending = s.scalar(
        select(Fanout.id).where(Fanout.offer_id == offer_id, Fanout.kind == FanoutKind.OFFER, Fanout.done_at.is_(None)).limit(1)
    )
    if pending is None:
        last = s.scalar(select(func.max(Fanout.seq)).where(Fanout.offer_id == offer_id, Fanout.kind == FanoutKind.OFFER)) or 0
        s.add(Fanout(offer_id=offer_id, kind=FanoutKind.OFFER, seq=last + 1, due_at=now, created_at=now))


def end_lapsed_holds(s: Session, offer: Offer, now: datetime) -> int:
    """The holds of `offer` whose time has come end as expired and their stock goes back; a
    sold-out offer sells again and goes on with a wave. The caller holds the offer's row lock.
    Returns the quantity given back."""
    back = sum(
        s.scalars(
            update(Reservation)
            .where(Reservation.offer_id == offer.id, Reservation.status == HELD, Reservation.expires_at <= now)
            .values(status=EXPIRED_HOLD, updated_at=now)
            .returning(Reservation.quantity)
        ).all()
    )
    if back:
        # Also on an offer past its time but not yet swept: the stock counts as left (unsellable),
        # so held + collected + quantity_left stays equal to the quantity.
        offer.quantity_left += back
        offer.updated_at = now
        if offer_rules.effective_status(offer.status, offer.expires_at, now) == offer_rules.SOLD_OUT:
            resume_offer(s, offer.id, now)
            offer.status = offer_rules.ACTIVE
    return back


class ExpiryService:
    """Expires offers at expires_at. Idempotent: an offer is expired once, whoever gets there
    first (its date job, the sweep, a second scheduler that lost its lease)."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def expire_offer(self, offer_id: str) -> bool:
        now = self.clock()
        with self.db.write() as s:
            offer = s.scalar(
                select(Offer)
                .where(
                    Offer.id == offer_id,
                    Offer.status.in_([offer_rules.ACTIVE, offer_rules.SOLD_OUT]),
                    Offer.expires_at <= now,
                )
                .with_for_update(skip_locked=True)
            )
            if offer is None:
                return False
            expired = [self._expire(s, offer, now)]
        self._log(expired)
        return True

    def expire_due(self, limit: int = 500) -> list[str]:
        """The sweep: every offer past its time that is still active or sold out."""
        now = self.clock()
        with self.db.write() as s:
            offers = s.scalars(
                select(Offer)
                .where(Offer.status.in_([offer_rules.ACTIVE, offer_rules.SOLD_OUT]), Offer.expires_at <= now)
                .order_by(Offer.expires_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            expired = [self._expire(s, offer, now) for offer in offers]
        self._log(expired)
        return [offer_id for offer_id, _ in expired]

    def expire_holds(self, offer_id: str) -> int:
        """The date job of a hold: the offer's holds whose time has come end, their stock goes back."""
        now = self.clock()
        with self.db.write() as s:
            # Waits for the row rather than skipping it: a reservation holds it for milliseconds,
            # and the hold's stock is due back now.
            offer = s.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
            back = end_lapsed_holds(s, offer, now) if offer is not None else 0
        if back:
            log.info("offer %s: %d items back from holds that ran out", offer_id, back)
        return back

    def expire_due_holds(self, limit: int = 500) -> dict[str, int]:
        """The sweep of holds: every offer with a hold past its time still held; the quantity
        given back, by offer."""
        now = self.clock()
        with self.db.write() as s:
            due = s.scalars(
                select(Reservation.offer_id)
                .where(Reservation.status == HELD, Reservation.expires_at <= now)
                .distinct()
                .limit(limit)
            ).all()
            if not due:
                return {}
            # In key order, the order every other path locks offers in; one locked by a
            # reservation or a change waits for the next sweep.
            offers = s.scalars(
                select(Offer).where(Offer.id.in_(due)).order_by(Offer.id).with_for_update(skip_locked=True)
            ).all()
            given = {offer.id: end_lapsed_holds(s, offer, now) for offer in offers}
        given = {offer_id: back for offer_id, back in given.items() if back}
        for offer_id, back in given.items():
            log.info("offer %s: %d items back from holds that ran out", offer_id, back)
        return given

    def _expire(self, s: Session, offer: Offer, now: datetime) -> tuple[str, float]:
        end_offer(s, offer, offer_rules.EXPIRED, now)
        return offer.id, (now - offer.expires_at).total_seconds() * 1000

    @staticmethod
    def _log(expired: list[tuple[str, float]]) -> None:
        # Only after the commit: a process killed before it must not claim an expiry that never happened.
        for offer_id, lateness_ms in expired:
            log.info("offer %s expired, %.0f ms after its time", offer_id, lateness_ms)
