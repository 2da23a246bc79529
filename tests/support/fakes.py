"""In-memory implementations of the services' ports (dealsvc/services/ports.py), for unit tests
of the services: the same queries as adapters/db/queries, on dicts. The contract tests
(tests/integration/test_store_contracts.py) hold them and the SQL to the same behaviour.

A transaction works on the store's rows and, like the database, keeps nothing of a block that
raised: it puts back a copy taken when the block began."""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

from dealsvc.domain import offers as offer_rules
from dealsvc.domain.outbox import FanoutKind, PushKind, PushStatus
from dealsvc.domain.reservations import HELD
from dealsvc.services.ports import AlreadyStored


@dataclass
class Row:
    """A stored row: its columns as attributes (what the services read of an ORM object)."""

    def __init__(self, **columns):
        self.__dict__.update(columns)

    def __repr__(self) -> str:
        return f"Row({self.__dict__})"


@dataclass
class Tables:
    subscribers: dict[str, Row] = field(default_factory=dict)  # by id
    shops: dict[str, Row] = field(default_factory=dict)  # by id
    favorites: dict[tuple[int, str], Row] = field(default_factory=dict)  # by (subscriber_pk, shop_id)
    # offers group's tables
    offers: dict[str, Row] = field(default_factory=dict)  # by id
    fanouts: list[Row] = field(default_factory=list)  # in the order made
    reservations: dict[str, Row] = field(default_factory=dict)  # by id
    notifications: dict[int, Row] = field(default_factory=dict)  # by id
    push_batches: dict[int, Row] = field(default_factory=dict)  # by id
    idempotency_keys: dict[tuple[str, str], Row] = field(default_factory=dict)  # by (scope, key)

    # operators group's tables

    # residents group's tables

    # numbers group's tables


class MemoryQueries:
    """The queries of adapters/db/queries, on Tables."""

    def __init__(self, tables: Tables):
        self.t = tables

    # subscribers
    def live_subscriber(self, subscriber_id: str, *, lock: bool = False) -> Row | None:
        sub = self.t.subscribers.get(subscriber_id)
        return sub if sub is not None and sub.deleted_at is None else None

    # shops
    def shop(self, shop_id: str, *, lock: bool = False) -> Row | None:
        return self.t.shops.get(shop_id)

    # favourites
    def favorites_of(self, subscriber_pk: int) -> list[tuple[Row, Row]]:
        mine = [f for (pk, _), f in self.t.favorites.items() if pk == subscriber_pk]
        mine.sort(key=lambda f: (f.created_at, f.shop_id))
        return [(f, self.t.shops[f.shop_id]) for f in mine]

    def favorite(self, subscriber_pk: int, shop_id: str) -> Row | None:
        return self.t.favorites.get((subscriber_pk, shop_id))

    def count_favorites(self, subscriber_pk: int) -> int:
        return sum(1 for pk, _ in self.t.favorites if pk == subscriber_pk)

    def add_favorite(self, subscriber_pk: int, shop_id: str, now: datetime) -> Row:
        favorite = Row(subscriber_pk=subscriber_pk, shop_id=shop_id, created_at=now)
        self.t.favorites[(subscriber_pk, shop_id)] = favorite
        return favorite

    def remove_favorite(self, favorite: Row) -> None:
        del self.t.favorites[(favorite.subscriber_pk, favorite.shop_id)]

    # --- offers, shops, lifecycle, price steps, photos, idempotency ------------------------------
    # (The SQL's row locks have nothing to wait for here: one transaction at a time.)

    def idempotency_answer(self, scope: str, key: str) -> Row | None:
        return self.t.idempotency_keys.get((scope, key))

    def keep_idempotency_answer(self, scope: str, key: str, fingerprint: str, status_code: int,
                                response: dict[str, Any], now: datetime) -> None:
        if (scope, key) in self.t.idempotency_keys:
            raise AlreadyStored(f"idempotency key {scope!r}")
        self.t.idempotency_keys[(scope, key)] = Row(scope=scope, key=key, fingerprint=fingerprint, status_code=status_code,
                                                    response=copy.deepcopy(response), created_at=now)

    def offer(self, offer_id: str, *, lock: bool = False) -> Row | None:
        return self.t.offers.get(offer_id)

    def offers_locked_skipping_locked(self, offer_ids: list[str]) -> list[Row]:
        return [self.t.offers[i] for i in sorted(set(offer_ids)) if i in self.t.offers]

    def offers_due_to_expire(self, now: datetime, statuses: list[str], *, offer_id: str | None = None,
                             limit: int | None = None) -> list[Row]:
        due = sorted((o for o in self.t.offers.values() if o.status in statuses and o.expires_at <= now
                      and offer_id in (None, o.id)), key=lambda o: o.expires_at)
        return due[:limit]

    def offers_with_step_due(self, now: datetime, limit: int) -> list[str]:
        due = [o for o in self.t.offers.values() if self._step_due(o, now)]
        return [o.id for o in sorted(due, key=lambda o: o.next_step_at)[:limit]]

    def offer_with_step_due(self, offer_id: str, now: datetime) -> Row | None:
        offer = self.t.offers.get(offer_id)
        return offer if offer is not None and self._step_due(offer, now) else None

    @staticmethod
    def _step_due(offer: Row, now: datetime) -> bool:
        return (offer.next_step_at is not None and offer.next_step_at <= now and offer.status == offer_rules.ACTIVE
                and offer.expires_at > now)

    def add_fanout(self, offer_id: str, kind: str, now: datetime, *, seq: int = 1) -> None:
        self.t.fanouts.append(Row(offer_id=offer_id, kind=kind, seq=seq, due_at=now, created_at=now, done_at=None))

    def has_pending_wave(self, offer_id: str) -> bool:
        return any(f.offer_id == offer_id and f.kind == FanoutKind.OFFER and f.done_at is None for f in self.t.fanouts)

    def last_wave_seq(self, offer_id: str) -> int:
        return max((f.seq for f in self.t.fanouts if f.offer_id == offer_id and f.kind == FanoutKind.OFFER), default=0)

    def drop_waiting_offer_alerts(self, offer_id: str, reason: str) -> None:
        for n in self.t.notifications.values():
            if n.offer_id != offer_id or n.kind != PushKind.OFFER:
                continue
            unclaimed = n.status == PushStatus.SENDING and n.batch_id is not None and self.t.push_batches[n.batch_id].attempts == 0
            if n.status == PushStatus.PENDING or unclaimed:
                n.status, n.reason, n.lease_until, n.batch_id = PushStatus.DROPPED, reason, None, None

    def redue_dropped_offer_alerts(self, offer_id: str, reason: str, now: datetime) -> None:
        for n in self.t.notifications.values():
            if n.offer_id == offer_id and n.kind == PushKind.OFFER and n.status == PushStatus.DROPPED and n.reason == reason:
                n.status, n.reason, n.due_at, n.lease_until = PushStatus.PENDING, None, now, None

    def end_held_reservations(self, offer_id: str, status: str, now: datetime, *, lapsed: bool = False) -> int:
        ended = [r for r in self.t.reservations.values()
                 if r.offer_id == offer_id and r.status == HELD and (not lapsed or r.expires_at <= now)]
        for r in ended:
            r.status, r.updated_at = status, now
        return sum(r.quantity for r in ended)

    def offers_with_lapsed_holds(self, now: datetime, limit: int) -> list[str]:
        due = {r.offer_id for r in self.t.reservations.values() if r.status == HELD and r.expires_at <= now}
        return sorted(due)[:limit]

    def photo_names_shown(self, names: set[str]) -> set[str]:
        return {name for o in self.t.offers.values() for name in (o.photo, o.thumbnail) if name in names}

    # --- merchants, auth, rules, audit, erasure, outage, breaker, activity -----------------------

    # --- subscribers, followers, retention, reservations -----------------------------------------

    # --- figures, maps, funnel, scheduler --------------------------------------------------------


class MemoryStore:
    """Transactions (services/ports.Transactions) on in-memory tables."""

    def __init__(self):
        self.tables = Tables()
        self._next_pk = 1

    @contextmanager
    def write(self) -> Iterator[MemoryQueries]:
        before = copy.deepcopy(self.tables)
        try:
            yield MemoryQueries(self.tables)
        except BaseException:
            self.tables = before
            raise

    read = write  # a reading service never writes; nothing to enforce in memory

    # Rows for a test to start from (the SQL tests insert them with the models).
    def add_subscriber(self, subscriber_id: str, *, deleted_at: datetime | None = None) -> int:
        pk, self._next_pk = self._next_pk, self._next_pk + 1
        self.tables.subscribers[subscriber_id] = Row(pk=pk, id=subscriber_id, deleted_at=deleted_at)
        return pk

    def add_shop(self, shop_id: str, name: str = "Forno Rossi", category: str = "bakery") -> None:
        self.tables.shops[shop_id] = Row(id=shop_id, name=name, category=category)

    def add_offer(self, offer_id: str, shop_id: str, now: datetime, **columns) -> Row:
        """An active offer posted at `now` (as OfferService posts one: with its first wave due),
        expiring in two hours unless `columns` say otherwise."""
        from datetime import timedelta

        row = dict(
            id=offer_id, shop_id=shop_id, title="Pane di ieri", description=None, category="bakery",
            original_price_cents=400, price_cents=200, discount_pct=50.0, currency="EUR", quantity=5,
            quantity_left=5, expires_at=now + timedelta(hours=2), status=offer_rules.ACTIVE, image_url=None,
            photo=None, thumbnail=None, created_at=now, updated_at=now, price_steps=None, price_step=0,
            next_step_at=None,
        )
        row.update(columns)
        self.tables.offers[offer_id] = offer = Row(**row)
        MemoryQueries(self.tables).add_fanout(offer_id, FanoutKind.OFFER, now)
        return offer

    def add_hold(self, reservation_id: str, offer_id: str, quantity: int, expires_at: datetime) -> None:
        """A hold of `quantity`, taken from the offer's stock."""
        offer = self.tables.offers[offer_id]
        offer.quantity_left -= quantity
        self.tables.reservations[reservation_id] = Row(
            id=reservation_id, offer_id=offer_id, quantity=quantity, status=HELD, expires_at=expires_at,
            updated_at=offer.created_at,
        )

    def add_alert(self, offer_id: str, status: str, *, batch_attempts: int | None = None) -> int:
        """An alert of the offer for a resident, `status`, in a batch tried batch_attempts times."""
        n = len(self.tables.notifications) + 1
        batch_id = None
        if batch_attempts is not None:
            batch_id = len(self.tables.push_batches) + 1
            self.tables.push_batches[batch_id] = Row(id=batch_id, attempts=batch_attempts)
        self.tables.notifications[n] = Row(id=n, offer_id=offer_id, kind=PushKind.OFFER, status=status, reason=None,
                                           due_at=None, lease_until=None, batch_id=batch_id)
        return n
