"""Reservations: a resident's hold on stock, never more than there is, whatever the concurrency."""
from __future__ import annotations

import hmac
import secrets
from typing import Any

from sqlalchemy import and_, case, func, select, update

from ..adapters.db import Database
from ..adapters.db.models import Offer, Reservation, Shop, Subscriber
from ..adapters.db.queries import Queries
from ..domain import offers as offer_rules
from ..domain import reservations as hold_rules
from ..domain.clock import Clock
from ..domain.credentials import new_id
from ..domain.errors import Conflict, NotFound, Unprocessable
from ..domain.i18n import Plural, Text
from ..domain.reservations import COLLECTED, HELD, RELEASED
from . import idempotency
from .auth import Principal
from .lifecycle import end_lapsed_holds, end_offer, resume_offer
from .ports import AlreadyStored
from .rules import RulesService

# No 0/O, 1/I/L: read out at a counter without doubt.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def hold_status(r: Reservation, offer: Offer, now) -> str:
    """A hold ends at its time and with its offer, even before the scheduler has written that down."""
    return hold_rules.effective_status(
        r.status, r.expires_at, offer_rules.effective_status(offer.status, offer.expires_at, now), now
    )


def reservation_view(r: Reservation, offer: Offer, now) -> dict[str, Any]:
    return {
        "id": r.id,
        "offer_id": r.offer_id,
        "quantity": r.quantity,
        "code": r.code,
        "status": hold_status(r, offer, now),
        "expires_at": r.expires_at,
        "created_at": r.created_at,
    }


class ReservationService:
    def __init__(self, db: Database, clock: Clock, rules: RulesService):
        self.db = db
        self.clock = clock
        self.rules = rules

    def reserve(self, principal: Principal, offer_id: str, quantity: int, idempotency_key: str | None = None) -> dict[str, Any]:
        scope = f"subscriber:{principal.id}:reserve:{offer_id}"[:120]
        body = {"quantity": quantity}
        for attempt in range(2):
            try:
                return self._reserve(principal, offer_id, quantity, scope, idempotency_key, body)
            except AlreadyStored:
                # A twin request with the same key committed first: replay its answer.
                if attempt or not idempotency_key:
                    raise
        raise AssertionError("unreachable")

    def _reserve(self, principal, offer_id, quantity, scope, key, body) -> dict[str, Any]:
        now = self.clock()
        with self.db.write() as s:
            cached = idempotency.replay(Queries(s), scope, key, body)
            if cached is not None:
                return cached
            # The resident's row lock (SQLite: the write lock) queues their concurrent
            # reservations, so each counts the holds the one before it made. FOR NO KEY UPDATE:
            # rows that merely refer to the resident (their pushes) are not held up.
            sub_pk = s.scalar(
                select(Subscriber.pk)
                .where(Subscriber.id == principal.id, Subscriber.deleted_at.is_(None))
                .with_for_update(key_share=True)
            )
            if sub_pk is None:
                raise NotFound(Text("No such subscriber."))
            rules = self.rules.current(s)
            active_holds = s.scalar(
                select(func.count()).where(
                    Reservation.subscriber_pk == sub_pk, Reservation.status == HELD, Reservation.expires_at > now
                )
            )
            rules.check_reservation(quantity, active_holds)
            offer = self._take(s, offer_id, quantity, now)
            reservation = Reservation(
                id=new_id("res"), offer_id=offer_id, subscriber_pk=sub_pk, quantity=quantity,
                code=new_code(), status=HELD, created_at=now, updated_at=now,
                expires_at=hold_rules.hold_expires_at(now, rules.hold_minutes, offer.expires_at),
            )
            s.add(reservation)
            if offer.quantity_left == 0:
                end_offer(Queries(s), offer, offer_rules.SOLD_OUT, now)
            view = reservation_view(reservation, offer, now)
            idempotency.remember(Queries(s), scope, key, body, 201, view, now)
            return view

    def _take(self, s, offer_id: str, quantity: int, now) -> Offer:
        """Take `quantity` of the offer's stock, or raise why not."""
        for attempt in range(2):
            # One conditional UPDATE takes the stock: the row lock (PostgreSQL) or the write
            # lock (SQLite) orders concurrent reservations, and each sees the stock the one
            # before it left, so holds never exceed the quantity.
            taken = s.execute(
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
            ).rowcount
            offer = s.scalar(
                select(Offer).where(Offer.id == offer_id).with_for_update().execution_options(populate_existing=True)
            )
            if offer is None:
                raise NotFound(Text("No such offer."))
            if taken:
                return offer
            # Holds whose time has come may not have been ended by the scheduler yet: their
            # stock is not held any more. Give it back (under the row lock) and try once more.
            if attempt == 0 and end_lapsed_holds(Queries(s), offer, now):
                s.flush()
                continue
            status = offer_rules.effective_status(offer.status, offer.expires_at, now)
            if status != offer_rules.ACTIVE:
                raise Conflict(Text("The offer is {status}.", status=offer_rules.STATUS_WORDS.get(status, status)))
            raise Conflict(
                Plural("Only {n} left.", "Only {n} left.", n=offer.quantity_left),
                {"quantity": [Plural("must be at most {n} (what is left).", "must be at most {n} (what is left).", n=offer.quantity_left)]},
            )
        raise AssertionError("unreachable")

    def _own(self, s, principal: Principal, reservation_id: str) -> tuple[Reservation, Offer]:
        row = s.execute(
            select(Reservation, Offer)
            .join(Offer, Reservation.offer_id == Offer.id)
            .join(Subscriber, Reservation.subscriber_pk == Subscriber.pk)
            .where(Reservation.id == reservation_id, Subscriber.id == principal.id)
            .with_for_update(of=Reservation)
        ).first()
        if row is None:
            raise NotFound(Text("No such reservation."))
        return row[0], row[1]

    def get(self, principal: Principal, reservation_id: str) -> dict[str, Any]:
        with self.db.read() as s:
            reservation, offer = self._own(s, principal, reservation_id)
            return reservation_view(reservation, offer, self.clock())

    def release(self, principal: Principal, reservation_id: str) -> dict[str, Any]:
        """The resident lets go: the stock goes back while the offer can still sell it."""
        now = self.clock()
        with self.db.write() as s:
            # Lock the offer before the hold, in the order reserving, withdrawing and expiring
            # lock them: the other order deadlocks against a concurrent cancel on PostgreSQL.
            s.execute(
                select(Offer.id)
                .where(Offer.id == select(Reservation.offer_id).where(Reservation.id == reservation_id).scalar_subquery())
                .with_for_update()
            )
            reservation, offer = self._own(s, principal, reservation_id)
            status = hold_status(reservation, offer, now)
            if status != HELD:
                raise Conflict(Text("The reservation is already {status}.", status=hold_rules.STATUS_WORDS.get(status, status)))
            reservation.status = RELEASED
            reservation.updated_at = now
            status = offer_rules.effective_status(offer.status, offer.expires_at, now)
            if status == offer_rules.SOLD_OUT:
                resume_offer(Queries(s), offer.id, now)
            if status in (offer_rules.ACTIVE, offer_rules.SOLD_OUT):
                s.execute(
                    update(Offer)
                    .where(Offer.id == offer.id)
                    .values(
                        quantity_left=Offer.quantity_left + reservation.quantity,
                        status=offer_rules.ACTIVE,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                s.refresh(offer)
            return reservation_view(reservation, offer, now)

    def collect(self, merchant: Principal, reservation_id: str, code: str) -> dict[str, Any]:
        now = self.clock()
        with self.db.write() as s:
            row = s.execute(
                select(Reservation, Offer)
                .join(Offer, Reservation.offer_id == Offer.id)
                .join(Shop, Offer.shop_id == Shop.id)
                .where(and_(Reservation.id == reservation_id, Shop.merchant_id == merchant.id))
                .with_for_update(of=Reservation)
            ).first()
            if row is None:
                raise NotFound(Text("No such reservation."))
            reservation, offer = row
            status = hold_status(reservation, offer, now)
            if status != HELD:
                raise Conflict(Text("The reservation is {status}, not held.", status=hold_rules.STATUS_WORDS.get(status, status)))
            if not hmac.compare_digest(code.strip().upper().encode(), reservation.code.encode()):
                raise Unprocessable(Text("The code does not match this reservation."), {"code": [Text("does not match.")]})
            reservation.status = COLLECTED
            reservation.updated_at = now
            return reservation_view(reservation, offer, now)

    def list_for_offer(self, merchant: Principal, offer_id: str) -> list[dict[str, Any]]:
        now = self.clock()
        with self.db.read() as s:
            offer = s.scalar(
                select(Offer).join(Shop).where(Offer.id == offer_id, Shop.merchant_id == merchant.id)
            )
            if offer is None:
                raise NotFound(Text("No such offer."))
            rows = s.scalars(
                select(Reservation).where(Reservation.offer_id == offer_id).order_by(Reservation.created_at)
            )
            return [reservation_view(r, offer, now) for r in rows]

    def list_for_subscriber(self, principal: Principal, subscriber_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """A resident's own reservations, newest first: the pickup codes a phone needs even
        after its storage was cleared. Another resident's id is a 404 (never told apart)."""
        if principal.id != subscriber_id:
            raise NotFound(Text("No such subscriber."))
        now = self.clock()
        with self.db.read() as s:
            rows = s.execute(
                select(Reservation, Offer)
                .join(Offer, Reservation.offer_id == Offer.id)
                .join(Subscriber, Reservation.subscriber_pk == Subscriber.pk)
                .where(Subscriber.id == subscriber_id, Subscriber.deleted_at.is_(None))
                .order_by(Reservation.created_at.desc(), Reservation.id)
                .limit(limit)
            ).all()
            return [reservation_view(r, offer, now) for r, offer in rows]

    def collect_by_code(self, merchant: Principal, offer_id: str, code: str) -> dict[str, Any]:
        """At the counter the resident shows a code, not an id: collect the hold of this offer
        that carries it."""
        wanted = code.strip().upper()
        with self.db.read() as s:
            reservation_id = s.scalar(
                select(Reservation.id)
                .join(Offer, Reservation.offer_id == Offer.id)
                .join(Shop, Offer.shop_id == Shop.id)
                .where(
                    Reservation.offer_id == offer_id,
                    Shop.merchant_id == merchant.id,
                    Reservation.code == wanted,
                    Reservation.status == HELD,
                )
            )
        if reservation_id is None:
            raise Unprocessable(
                Text("No reservation of this offer is waiting with this code."),
                {"code": [Text("no reservation of this offer is waiting with this code.")]},
            )
        return self.collect(merchant, reservation_id, wanted)
