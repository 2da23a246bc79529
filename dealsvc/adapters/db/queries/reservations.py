"""Reservations: residents' holds on offers' stock."""
from __future__ import annotations

from sqlalchemy import select

from ..models import Offer, Reservation
from .base import OnSession


class ReservationQueries(OnSession):
    def reservations_of_subscriber(self, subscriber_pk: int) -> list[tuple[Reservation, Offer]]:
        """The resident's reservations with their offers, the oldest first."""
        return list(self.session.execute(
            select(Reservation, Offer)
            .join(Offer, Reservation.offer_id == Offer.id)
            .where(Reservation.subscriber_pk == subscriber_pk)
            .order_by(Reservation.created_at, Reservation.id)
        ).all())
