"""An offer's end and return: its pushes, its waves (fanouts) and its holds (reservations)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select, update

from ....domain.outbox import FanoutKind, PushKind, PushStatus
from ....domain.reservations import HELD
from ..models import Fanout, Notification, Offer, PushBatch, Reservation
from .base import OnSession


class LifecycleQueries(OnSession):
    def drop_waiting_offer_alerts(self, offer_id: str, reason: str) -> None:
        """The offer's alerts not yet sent are dropped with `reason`: those pending, and those
        waiting in a batch no dispatcher has claimed (a claimed batch's are its claimer's: its
        screening drops them). Those batches are locked first, so a claim cannot take one
        meanwhile (it skips it, or takes it after this commits, without them)."""
        s = self.session
        unclaimed = s.scalars(
            select(PushBatch.id)
            .where(PushBatch.attempts == 0, PushBatch.id.in_(
                select(Notification.batch_id).where(Notification.offer_id == offer_id, Notification.status == PushStatus.SENDING)
            ))
            .order_by(PushBatch.id)
            .with_for_update()
        ).all()
        waiting = Notification.status == PushStatus.PENDING
        if unclaimed:
            waiting = or_(waiting, and_(Notification.status == PushStatus.SENDING, Notification.batch_id.in_(unclaimed)))
        s.execute(
            update(Notification)
            .where(Notification.offer_id == offer_id, Notification.kind == PushKind.OFFER, waiting)
            .values(status=PushStatus.DROPPED, reason=reason, pending_due_at=None, lease_until=None, batch_id=None)
        )

    def redue_dropped_offer_alerts(self, offer_id: str, reason: str, now: datetime) -> None:
        """The offer's alerts dropped with `reason` are due again now."""
        self.session.execute(
            update(Notification)
            .where(
                Notification.offer_id == offer_id,
                Notification.kind == PushKind.OFFER,
                Notification.status == PushStatus.DROPPED,
                Notification.reason == reason,
            )
            .values(status=PushStatus.PENDING, reason=None, due_at=now, pending_due_at=now, lease_until=None)
        )

    def add_fanout(self, offer_id: str, kind: str, now: datetime, *, seq: int = 1) -> None:
        """A promise to push about the offer (a wave, a withdrawal, a price step), due now."""
        self.session.add(Fanout(offer_id=offer_id, kind=kind, seq=seq, due_at=now, created_at=now))

    def has_pending_wave(self, offer_id: str) -> bool:
        return self.session.scalar(
            select(Fanout.id).where(Fanout.offer_id == offer_id, Fanout.kind == FanoutKind.OFFER, Fanout.done_at.is_(None)).limit(1)
        ) is not None

    def last_wave_seq(self, offer_id: str) -> int:
        """The number of the offer's last wave; 0 before the first."""
        return self.session.scalar(
            select(func.max(Fanout.seq)).where(Fanout.offer_id == offer_id, Fanout.kind == FanoutKind.OFFER)
        ) or 0

    def end_held_reservations(self, offer_id: str, status: str, now: datetime, *, lapsed: bool = False) -> int:
        """The offer's holds still held (`lapsed`: only those whose time has come) take
        `status`; the quantity they held. RETURNING counts exactly the rows this UPDATE ended,
        not a hold collected a moment before."""
        held = [Reservation.offer_id == offer_id, Reservation.status == HELD]
        if lapsed:
            held.append(Reservation.expires_at <= now)
        return sum(
            self.session.scalars(
                update(Reservation).where(*held).values(status=status, updated_at=now).returning(Reservation.quantity)
            ).all()
        )

    def offers_with_lapsed_holds(self, now: datetime, limit: int) -> list[str]:
        """Ids of offers with a hold past its time still held (at most `limit`)."""
        return list(self.session.scalars(
            select(Reservation.offer_id)
            .where(Reservation.status == HELD, Reservation.expires_at <= now)
            .distinct()
            .limit(limit)
        ).all())

    def offers_due_to_expire(self, now: datetime, statuses: list[str], *, offer_id: str | None = None,
                             limit: int | None = None) -> list[Offer]:
        """Offers in `statuses` past their time (`offer_id`: that one only), the earliest first,
        locked; those another transaction holds are skipped."""
        q = select(Offer).where(Offer.status.in_(statuses), Offer.expires_at <= now)
        if offer_id is not None:
            q = q.where(Offer.id == offer_id)
        else:
            q = q.order_by(Offer.expires_at).limit(limit)
        return list(self.session.scalars(q.with_for_update(skip_locked=True)).all())
