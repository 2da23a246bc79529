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
from typing import Iterator

from dealsvc.domain.offers import ACTIVE, SOLD_OUT
from dealsvc.domain.reservations import HELD
from dealsvc.services.ports import IntegrityConflict


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

    # operators group's tables
    merchants: dict[str, Row] = field(default_factory=dict)  # by id
    # The one row of rules in force, as the first migration leaves it: every rule at its default.
    operator_rules: Row = field(default_factory=lambda: Row(id=1, stored={}, updated_at=None))
    rule_changes: list[Row] = field(default_factory=list)  # in the order made; .id from 1
    audit_entries: list[Row] = field(default_factory=list)  # in the order kept; .id from 1
    web_sessions: dict[str, Row] = field(default_factory=dict)  # by id_hash

    # residents group's tables
    offers: dict[str, Row] = field(default_factory=dict)  # by id (the offers group's table too)
    reservations: dict[str, Row] = field(default_factory=dict)  # by id

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
    def shop(self, shop_id: str) -> Row | None:
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

    # --- merchants, auth, rules, audit, erasure, outage, breaker, activity -----------------------

    # rules
    def stored_rules(self) -> dict | None:
        return copy.deepcopy(self.t.operator_rules.stored)

    def rules_row_for_update(self) -> Row:
        return self.t.operator_rules

    def add_rule_change(self, changed_at: datetime, name: str, old_value, new_value, audit_id: int | None) -> None:
        self.t.rule_changes.append(Row(id=len(self.t.rule_changes) + 1, changed_at=changed_at, name=name,
                                       old_value=old_value, new_value=new_value, audit_id=audit_id))

    def latest_rule_changes(self, limit: int) -> list[Row]:
        return list(reversed(self.t.rule_changes))[:limit]

    def rule_changes_of_audit_entries(self, audit_ids: list[int]) -> list[Row]:
        wanted = set(audit_ids)
        return [c for c in self.t.rule_changes if c.audit_id in wanted]

    # audit
    def add_audit_entry(self, at: datetime, actor_kind: str, actor: str, action: str, target: str | None,
                        detail: dict | None) -> int:
        entry = Row(id=len(self.t.audit_entries) + 1, at=at, actor_kind=actor_kind, actor=actor, action=action,
                    target=target, detail=copy.deepcopy(detail))
        self.t.audit_entries.append(entry)
        return entry.id

    def latest_audit_entries(self, limit: int, before: int | None = None) -> list[Row]:
        older = [e for e in reversed(self.t.audit_entries) if before is None or e.id < before]
        return older[:limit]

    # merchants
    def merchant(self, merchant_id: str, *, lock: bool = False) -> Row | None:
        return self.t.merchants.get(merchant_id)

    def merchant_status(self, merchant_id: str, *, hold: bool = False) -> str | None:
        m = self.t.merchants.get(merchant_id)
        return None if m is None else m.status

    def merchants(self, status: str | None = None) -> list[Row]:
        found = [m for m in self.t.merchants.values() if not status or m.status == status]
        return sorted(found, key=lambda m: m.created_at)

    def merchant_names(self, merchant_ids: set[str]) -> dict[str, str]:
        return {m.id: m.name for m in self.t.merchants.values() if m.id in merchant_ids}

    def add_merchant(self, merchant_id: str, name: str, email: str, status: str, api_key_hash: str,
                     created_at: datetime) -> Row | None:
        if any(m.email == email or m.api_key_hash == api_key_hash for m in self.t.merchants.values()):
            return None  # the unique constraints
        m = Row(id=merchant_id, name=name, email=email, status=status, api_key_hash=api_key_hash,
                created_at=created_at, erased_at=None)
        self.t.merchants[merchant_id] = m
        return m

    # auth
    def merchant_with_key(self, api_key_hash: str) -> Row | None:
        return next((m for m in self.t.merchants.values() if m.api_key_hash == api_key_hash), None)

    def web_session(self, id_hash: str) -> Row | None:
        return self.t.web_sessions.get(id_hash)

    def add_web_session(self, id_hash: str, role: str, subject: str, created_at: datetime, expires_at: datetime) -> None:
        self.t.web_sessions[id_hash] = Row(id_hash=id_hash, role=role, subject=subject, created_at=created_at,
                                           expires_at=expires_at)

    def delete_web_session(self, id_hash: str) -> None:
        self.t.web_sessions.pop(id_hash, None)

    def delete_expired_web_sessions(self, now: datetime) -> None:
        self._keep_web_sessions(lambda w: w.expires_at > now)

    def delete_web_sessions_of(self, role: str, subject: str) -> None:
        self._keep_web_sessions(lambda w: not (w.role == role and w.subject == subject))

    def _keep_web_sessions(self, keep) -> None:
        self.t.web_sessions = {h: w for h, w in self.t.web_sessions.items() if keep(w)}

    # --- subscribers, followers, retention, reservations -----------------------------------------
    def _subscriber_by_pk(self, pk: int) -> Row | None:
        return next((sub for sub in self.t.subscribers.values() if sub.pk == pk), None)

    def add_subscriber(self, **columns) -> Row:
        pk = max((sub.pk for sub in self.t.subscribers.values()), default=0) + 1
        sub = subscriber_row(pk=pk, **columns)
        self.t.subscribers[sub.id] = sub
        return sub

    def deactivate_token_holders(self, fcm_token: str, now: datetime, *, except_pk: int | None = None) -> None:
        for sub in self.t.subscribers.values():
            if sub.fcm_token == fcm_token and sub.active and sub.pk != except_pk:
                sub.active, sub.updated_at, sub.deactivated_at = False, now, now

    def replace_places(self, sub: Row, places: list[dict]) -> None:
        sub.places = [Row(subscriber_pk=sub.pk, position=n, **columns) for n, columns in enumerate(places, start=1)]

    def remove_favorites_of(self, subscriber_pk: int) -> None:
        for key in [key for key in self.t.favorites if key[0] == subscriber_pk]:
            del self.t.favorites[key]

    def active_followers_with_places(self, shop_id: str) -> list[tuple[Row, list[Row]]]:
        followers = [self._subscriber_by_pk(pk) for pk, followed in self.t.favorites if followed == shop_id]
        return [
            (Row(pk=sub.pk, lat=sub.lat, lon=sub.lon, timezone=sub.timezone), list(sub.places))
            for sub in followers if sub.active
        ]

    def live_subscriber_pk_locked(self, subscriber_id: str) -> int | None:
        sub = self.live_subscriber(subscriber_id)
        return None if sub is None else sub.pk

    def count_active_holds(self, subscriber_pk: int, now: datetime) -> int:
        return sum(1 for r in self.t.reservations.values()
                   if r.subscriber_pk == subscriber_pk and r.status == HELD and r.expires_at > now)

    def take_stock(self, offer_id: str, quantity: int, now: datetime) -> bool:
        offer = self.t.offers.get(offer_id)
        if offer is None or offer.status != ACTIVE or offer.expires_at <= now or offer.quantity_left < quantity:
            return False
        offer.status = SOLD_OUT if offer.quantity_left == quantity else offer.status
        offer.quantity_left -= quantity
        offer.updated_at = now
        return True

    def return_stock(self, offer: Row, quantity: int, status: str, now: datetime) -> None:
        offer.quantity_left += quantity
        offer.status, offer.updated_at = status, now

    def offer_locked_fresh(self, offer_id: str) -> Row | None:
        return self.t.offers.get(offer_id)

    def lock_offer_of_reservation(self, reservation_id: str) -> None:
        pass  # one transaction at a time in memory

    def add_reservation(self, **columns) -> Row:
        if columns["id"] in self.t.reservations:
            raise IntegrityConflict(f"reservation {columns['id']} exists")  # the database refuses it at commit
        reservation = Row(**columns)
        self.t.reservations[reservation.id] = reservation
        return reservation

    def _with_offer(self, reservation: Row) -> tuple[Row, Row]:
        return reservation, self.t.offers[reservation.offer_id]

    def reservation_of_subscriber(self, subscriber_id: str, reservation_id: str) -> tuple[Row, Row] | None:
        reservation, sub = self.t.reservations.get(reservation_id), self.t.subscribers.get(subscriber_id)
        if reservation is None or sub is None or reservation.subscriber_pk != sub.pk:
            return None
        return self._with_offer(reservation)

    def reservation_of_merchant(self, merchant_id: str, reservation_id: str) -> tuple[Row, Row] | None:
        reservation = self.t.reservations.get(reservation_id)
        if reservation is None or self.merchant_offer_for_holds(merchant_id, reservation.offer_id) is None:
            return None
        return self._with_offer(reservation)

    def merchant_offer_for_holds(self, merchant_id: str, offer_id: str) -> Row | None:
        offer = self.t.offers.get(offer_id)
        return offer if offer is not None and self.t.shops[offer.shop_id].merchant_id == merchant_id else None

    def reservations_of_offer(self, offer_id: str) -> list[Row]:
        return sorted((r for r in self.t.reservations.values() if r.offer_id == offer_id), key=lambda r: r.created_at)

    def latest_reservations_of(self, subscriber_id: str, limit: int) -> list[tuple[Row, Row]]:
        sub = self.live_subscriber(subscriber_id)
        if sub is None:
            return []
        mine = [r for r in self.t.reservations.values() if r.subscriber_pk == sub.pk]
        mine.sort(key=lambda r: r.id)
        mine.sort(key=lambda r: r.created_at, reverse=True)
        return [self._with_offer(r) for r in mine[:limit]]

    def reservations_of_subscriber(self, subscriber_pk: int) -> list[tuple[Row, Row]]:
        mine = sorted((r for r in self.t.reservations.values() if r.subscriber_pk == subscriber_pk),
                      key=lambda r: (r.created_at, r.id))
        return [self._with_offer(r) for r in mine]

    def held_reservation_with_code(self, merchant_id: str, offer_id: str, code: str) -> str | None:
        if self.merchant_offer_for_holds(merchant_id, offer_id) is None:
            return None
        return next((r.id for r in self.t.reservations.values()
                     if r.offer_id == offer_id and r.code == code and r.status == HELD), None)

    # --- figures, maps, funnel, scheduler --------------------------------------------------------


# --- residents group's rows ---------------------------------------------------------------------


def subscriber_row(**columns) -> Row:
    """A subscription with every column the services read (the SQL model's defaults for the rest)."""
    return Row(**{
        "secret_hash": "", "fcm_token": "", "lat": 0.0, "lon": 0.0, "radius_m": 1, "categories": [],
        "quiet_start": None, "quiet_end": None, "timezone": None, "timezone_auto": True, "locale": "en",
        "max_per_day": None, "price_drops": False, "active": True, "created_at": None, "updated_at": None,
        "deleted_at": None, "token_seen_at": None, "deactivated_at": None, "privacy_notice_version": None,
        "privacy_accepted_at": None, "places": [], **columns,
    })


def offer_row(**columns) -> Row:
    """An offer with the columns reservations read (active, 5 left of 5, unless `columns` say otherwise)."""
    return Row(**{"title": "Pane di ieri", "status": ACTIVE, "quantity": 5, "quantity_left": 5, "created_at": None,
                  "updated_at": None, **columns})


class MemoryStore:
    """Transactions (services/ports.Transactions) on in-memory tables."""

    def __init__(self):
        self.tables = Tables()

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
        return MemoryQueries(self.tables).add_subscriber(id=subscriber_id, deleted_at=deleted_at).pk

    def add_shop(self, shop_id: str, name: str = "Forno Rossi", category: str = "bakery") -> None:
        self.tables.shops[shop_id] = Row(id=shop_id, name=name, category=category)
