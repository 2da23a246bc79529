"""The scheduler's lease (who leads) and what its date jobs are made from (services/scheduler.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ....domain.reservations import HELD
from ..models import Lease, Offer, Reservation
from .base import OnSession


class SchedulerQueries(OnSession):
    def claim_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """The named lease held by `holder` until `until`, if nobody holds it or `holder` does or
        its holder's time ran out before `now` (one atomic compare-and-set): whether it now is."""
        insert = postgresql.insert if self.is_pg else sqlite.insert
        self.session.execute(
            insert(Lease).values(name=name, holder=holder, expires_at=until).on_conflict_do_nothing(index_elements=["name"])
        )
        return bool(self.session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=until)
        ).rowcount)

    def lease_expiry(self, name: str) -> datetime | None:
        """When the named lease runs out (None: no such lease)."""
        return self.session.scalar(select(Lease.expires_at).where(Lease.name == name))

    def release_lease(self, name: str, holder: str, expired_at: datetime) -> None:
        """The named lease runs out at `expired_at`, if `holder` holds it."""
        self.session.execute(
            update(Lease).where(and_(Lease.name == name, Lease.holder == holder)).values(expires_at=expired_at)
        )

    def offer_expiries_changed_since(self, since: datetime, statuses: Sequence[str]) -> list[Any]:
        """(id, expires_at) of the offers in one of `statuses`, changed since `since`."""
        return list(self.session.execute(
            select(Offer.id, Offer.expires_at).where(Offer.status.in_(list(statuses)), Offer.updated_at >= since)
        ).all())

    def hold_expiries(self, made_since: datetime | None = None) -> list[Any]:
        """(id, offer_id, expires_at) of the reservations held now (made since `made_since`)."""
        holds = select(Reservation.id, Reservation.offer_id, Reservation.expires_at).where(Reservation.status == HELD)
        if made_since is not None:
            holds = holds.where(Reservation.created_at >= made_since)
        return list(self.session.execute(holds).all())
