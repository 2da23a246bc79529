"""Reservations: a resident's hold on stock, never more than there is, whatever the concurrency."""
from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Any, Protocol

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
from .ports import IntegrityConflict, Transactions
from .rules import RulesService

# No 0/O, 1/I/L: read out at a counter without doubt.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def hold_status(r, offer, now) -> str:
    """A hold ends at its time and with its offer, even before the scheduler has written that down."""
    return hold_rules.effective_status(
        r.status, r.expires_at, offer_rules.effective_status(offer.status, offer.expires_at, now), now
    )


def reservation_view(r, offer, now) -> dict[str, Any]:
    return {
        "id": r.id,
        "offer_id": r.offer_id,
        "quantity": r.quantity,
        "code": r.code,
        "status": hold_status(r, offer, now),
        "expires_at": r.expires_at,
        "created_at": r.created_at,
    }


class ReservationQueries(Protocol):
    """What ReservationService needs of the database (SQL: db/queries/reservations.py)."""

    def live_subscriber_pk_locked(self, subscriber_id: str) -> int | None: ...
    def count_active_holds(self, subscriber_pk: int, now: datetime) -> int: ...
    def take_stock(self, offer_id: str, quantity: int, now: datetime) -> bool: ...
    def return_stock(self, offer: Any, quantity: int, status: str, now: datetime) -> None: ...
    def offer_locked_fresh(self, offer_id: str) -> Any | None: ...
    def lock_offer_of_reservation(self, reservation_id: str) -> None: ...
    def add_reservation(self, **columns: Any) -> Any: ...
    def reservation_of_subscriber(self, subscriber_id: str, reservation_id: str) -> tuple[Any, Any] | None: ...
    def reservation_of_merchant(self, merchant_id: str, reservation_id: str) -> tuple[Any, Any] | None: ...
    def merchant_offer_for_holds(self, merchant_id: str, offer_id: str) -> Any | None: ...
    def reservations_of_offer(self, offer_id: str) -> list[Any]: ...
    def latest_reservations_of(self, subscriber_id: str, limit: int) -> list[tuple[Any, Any]]: ...
    def held_reservation_with_code(self, merchant_id: str, offer_id: str, code: str) -> str | None: ...


class ReservationService:
    def __init__(self, store: Transactions[ReservationQueries], clock: Clock, rules: RulesService):
        self.store = store
        self.clock = clock
        self.rules = rules

    def reserve(self, principal: Principal, offer_id: str, quantity: int, idempotency_key: str | None = None) -> dict[str, Any]:
        scope = f"subscriber:{principal.id}:reserve:{offer_id}"[:120]
        body = {"quantity": quantity}
        for attempt in range(2):
            try:
                return self._reserve(principal, offer_id, quantity, scope, idempotency_key, body)
            except IntegrityConflict:
                # A twin request with the same key committed first: replay its answer.
                if attempt or not idempotency_key:
                    raise
        raise AssertionError("unreachable")

    def _reserve(self, principal, offer_id, quantity, scope, key, body) -> dict[str, Any]:
        now = self.clock()
        with self.store.write() as q:
            cached = idempotency.replay(q, scope, key, body)
            if cached is not None:
                return cached
            # The resident's row lock (SQLite: the write lock) queues their concurrent
            # reservations, so each counts the holds the one before it made.
            sub_pk = q.live_subscriber_pk_locked(principal.id)
            if sub_pk is None:
                raise NotFound(Text("No such subscriber."))
            rules = self.rules.current(q)
            rules.check_reservation(quantity, q.count_active_holds(sub_pk, now))
            offer = self._take(q, offer_id, quantity, now)
            reservation = q.add_reservation(
                id=new_id("res"), offer_id=offer_id, subscriber_pk=sub_pk, quantity=quantity,
                code=new_code(), status=HELD, created_at=now, updated_at=now,
                expires_at=hold_rules.hold_expires_at(now, rules.hold_minutes, offer.expires_at),
            )
            if offer.quantity_left == 0:
                end_offer(q, offer, offer_rules.SOLD_OUT, now)
            view = reservation_view(reservation, offer, now)
            idempotency.remember(q, scope, key, body, 201, view, now)
            return view

    def _take(self, q: ReservationQueries, offer_id: str, quantity: int, now):
        """Take `quantity` of the offer's stock, or raise why not; returns the offer, locked."""
        for attempt in range(2):
            # Holds never exceed the quantity, whatever the concurrency (take_stock says how).
            taken = q.take_stock(offer_id, quantity, now)
            offer = q.offer_locked_fresh(offer_id)
            if offer is None:
                raise NotFound(Text("No such offer."))
            if taken:
                return offer
            # Holds whose time has come may not have been ended by the scheduler yet: their
            # stock is not held any more. Give it back (under the row lock) and try once more.
            if attempt == 0 and end_lapsed_holds(q, offer, now):
                continue
            status = offer_rules.effective_status(offer.status, offer.expires_at, now)
            if status != offer_rules.ACTIVE:
                raise Conflict(Text("The offer is {status}.", status=offer_rules.STATUS_WORDS.get(status, status)))
            raise Conflict(
                Plural("Only {n} left.", "Only {n} left.", n=offer.quantity_left),
                {"quantity": [Plural("must be at most {n} (what is left).", "must be at most {n} (what is left).", n=offer.quantity_left)]},
            )
        raise AssertionError("unreachable")

    @staticmethod
    def _own(q: ReservationQueries, principal: Principal, reservation_id: str):
        row = q.reservation_of_subscriber(principal.id, reservation_id)
        if row is None:
            raise NotFound(Text("No such reservation."))
        return row

    def get(self, principal: Principal, reservation_id: str) -> dict[str, Any]:
        with self.store.read() as q:
            reservation, offer = self._own(q, principal, reservation_id)
            return reservation_view(reservation, offer, self.clock())

    def release(self, principal: Principal, reservation_id: str) -> dict[str, Any]:
        """The resident lets go: the stock goes back while the offer can still sell it."""
        now = self.clock()
        with self.store.write() as q:
            # Lock the offer before the hold, in the order reserving, withdrawing and expiring
            # lock them: the other order deadlocks against a concurrent cancel on PostgreSQL.
            q.lock_offer_of_reservation(reservation_id)
            reservation, offer = self._own(q, principal, reservation_id)
            status = hold_status(reservation, offer, now)
            if status != HELD:
                raise Conflict(Text("The reservation is already {status}.", status=hold_rules.STATUS_WORDS.get(status, status)))
            reservation.status = RELEASED
            reservation.updated_at = now
            status = offer_rules.effective_status(offer.status, offer.expires_at, now)
            if status == offer_rules.SOLD_OUT:
                resume_offer(q, offer.id, now)
            if status in (offer_rules.ACTIVE, offer_rules.SOLD_OUT):
                q.return_stock(offer, reservation.quantity, offer_rules.ACTIVE, now)
            return reservation_view(reservation, offer, now)

    def collect(self, merchant: Principal, reservation_id: str, code: str) -> dict[str, Any]:
        now = self.clock()
        with self.store.write() as q:
            row = q.reservation_of_merchant(merchant.id, reservation_id)
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
        with self.store.read() as q:
            offer = q.merchant_offer_for_holds(merchant.id, offer_id)
            if offer is None:
                raise NotFound(Text("No such offer."))
            return [reservation_view(r, offer, now) for r in q.reservations_of_offer(offer_id)]

    def list_for_subscriber(self, principal: Principal, subscriber_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """A resident's own reservations, newest first: the pickup codes a phone needs even
        after its storage was cleared. Another resident's id is a 404 (never told apart)."""
        if principal.id != subscriber_id:
            raise NotFound(Text("No such subscriber."))
        now = self.clock()
        with self.store.read() as q:
            return [reservation_view(r, offer, now) for r, offer in q.latest_reservations_of(subscriber_id, limit)]

    def collect_by_code(self, merchant: Principal, offer_id: str, code: str) -> dict[str, Any]:
        """At the counter the resident shows a code, not an id: collect the hold of this offer
        that carries it."""
        wanted = code.strip().upper()
        with self.store.read() as q:
            reservation_id = q.held_reservation_with_code(merchant.id, offer_id, wanted)
        if reservation_id is None:
            raise Unprocessable(
                Text("No reservation of this offer is waiting with this code."),
                {"code": [Text("no reservation of this offer is waiting with this code.")]},
            )
        return self.collect(merchant, reservation_id, wanted)
