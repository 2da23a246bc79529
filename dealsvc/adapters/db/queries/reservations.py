"""Reservations: residents' holds on offers' stock, and the stock they take."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select, update

from ....domain import offers as offer_rules
from ....domain.reservations import HELD
from ..models import Offer, Reservation, Shop, Subscriber
from .base import OnSession


class ReservationQueries(OnSession):
    def live_subscriber_pk_locked(self, subscriber_id: str) -> int | None:
        """The live subscription's key, its row locked until the transaction ends (SQLite: the
        write lock) so the resident's concurrent reservations queue. FOR NO KEY UPDATE: rows
        that merely refer to the resident (their pushes) are not held up."""
        return self.session.scalar(
            select(Subscriber.pk)
            .where(Subscriber.id == subscriber_id, Subscriber.deleted_at.is_(None))
            .with_for_update(key_share=True)
        )

    def count_active_holds(self, subscriber_pk: int, now: datetime) -> int:
        """The resident's holds still held and not past their time at `now`."""
        return self.session.scalar(
            select(func.count()).where(
                Reservation.subscriber_pk == subscriber_pk, Reservation.status == HELD, Reservation.expires_at > now
            )
        )

    def take_stock(self, offer_id: str, quantity: int, now: datetime) -> bool:
        """Take `quantity` of a live offer's stock if that much is left (the offer sold out when
        it was the last); False: nothing taken. One conditional UPDATE: the row lock (PostgreSQL)
        or the write lock (SQLite) orders concurrent reservations, and each sees the stock the
        one before it left. What the transaction changed before (holds given back) is written first."""
        self.session.flush()
        return bool(self.session.execute(
            update(Offer)
            .where(
                Offer.id == offer_id,
                Offer.status == offer_rules.ACTIVE,
                Offer.expires_at > now,
                Offer.quantity_left >= quantity,
            )
            .values(
                quantity_left=Offer.quantity_left - quantity,
                status=case((Offer.quantity_left == quantity, offer_rules.SOLD_OUT), else_=Offer.status),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount)

    def return_stock(self, offer: Offer, quantity: int, status: str, now: datetime) -> None:
        """Give `quantity` back to the offer's stock, the offer now `status`; `offer` is read again."""
        self.session.execute(
            update(Offer)
            .where(Offer.id == offer.id)
            .values(quantity_left=Offer.quantity_left + quantity, status=status, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        self.session.refresh(offer)

    def offer_locked_fresh(self, offer_id: str) -> Offer | None:
        """The offer as the database has it now (not as this transaction last read it), locked."""
        return self.session.scalar(
            select(Offer).where(Offer.id == offer_id).with_for_update().execution_options(populate_existing=True)
        )

    def lock_offer_of_reservation(self, reservation_id: str) -> None:
        """Lock the reservation's offer (before the hold: the order reserving, withdrawing and
        expiring lock them in)."""
        self.session.execute(
            select(Offer.id)
            .where(Offer.id == select(Reservation.offer_id).where(Reservation.id == reservation_id).scalar_subquery())
            .with_for_update()
        )

    def add_reservation(self, **columns: Any) -> Reservation:
        reservation = Reservation(**columns)
        self.session.add(reservation)
        return reservation

    def reservation_of_subscriber(self, subscriber_id: str, reservation_id: str) -> tuple[Reservation, Offer] | None:
        """The resident's reservation with its offer, the reservation locked; None if not theirs."""
        row = self.session.execute(
            select(Reservation, Offer)
            .join(Offer, Reservation.offer_id == Offer.id)
            .join(Subscriber, Reservation.subscriber_pk == Subscriber.pk)
            .where(Reservation.id == reservation_id, Subscriber.id == subscriber_id)
            .with_for_update(of=Reservation)
        ).first()
        return None if row is None else (row[0], row[1])

    def reservation_of_merchant(self, merchant_id: str, reservation_id: str) -> tuple[Reservation, Offer] | None:
        """A reservation of one of the merchant's shops' offers, with its offer, the reservation
        locked; None if not theirs."""
        row = self.session.execute(
            select(Reservation, Offer)
            .join(Offer, Reservation.offer_id == Offer.id)
            .join(Shop, Offer.shop_id == Shop.id)
            .where(and_(Reservation.id == reservation_id, Shop.merchant_id == merchant_id))
            .with_for_update(of=Reservation)
        ).first()
        return None if row is None else (row[0], row[1])

    def merchant_offer_for_holds(self, merchant_id: str, offer_id: str) -> Offer | None:
        """The offer, if one of the merchant's shops posted it."""
        return self.session.scalar(
            select(Offer).join(Shop).where(Offer.id == offer_id, Shop.merchant_id == merchant_id)
        )

    def reservations_of_offer(self, offer_id: str) -> list[Reservation]:
        """The offer's reservations, the oldest first."""
        return list(self.session.scalars(
            select(Reservation).where(Reservation.offer_id == offer_id).order_by(Reservation.created_at)
        ))

    def latest_reservations_of(self, subscriber_id: str, limit: int) -> list[tuple[Reservation, Offer]]:
        """The live resident's last `limit` reservations with their offers, the newest first."""
        return list(self.session.execute(
            select(Reservation, Offer)
            .join(Offer, Reservation.offer_id == Offer.id)
            .join(Subscriber, Reservation.subscriber_pk == Subscriber.pk)
            .where(Subscriber.id == subscriber_id, Subscriber.deleted_at.is_(None))
            .order_by(Reservation.created_at.desc(), Reservation.id)
            .limit(limit)
        ).all())

    def reservations_of_subscriber(self, subscriber_pk: int) -> list[tuple[Reservation, Offer]]:
        """The resident's reservations with their offers, the oldest first."""
        return list(self.session.execute(
            select(Reservation, Offer)
            .join(Offer, Reservation.offer_id == Offer.id)
            .where(Reservation.subscriber_pk == subscriber_pk)
            .order_by(Reservation.created_at, Reservation.id)
        ).all())

    def held_reservation_with_code(self, merchant_id: str, offer_id: str, code: str) -> str | None:
        """The id of the offer's held reservation carrying `code`, if the merchant's shop posted the offer."""
        return self.session.scalar(
            select(Reservation.id)
            .join(Offer, Reservation.offer_id == Offer.id)
            .join(Shop, Offer.shop_id == Shop.id)
            .where(
                Reservation.offer_id == offer_id,
                Shop.merchant_id == merchant_id,
                Reservation.code == code,
                Reservation.status == HELD,
            )
        )
