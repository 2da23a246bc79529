"""In-memory implementations of the services' ports (dealsvc/services/ports.py), for unit tests
of the services: the same queries as adapters/db/queries, on dicts. The contract tests
(tests/integration/test_store_contracts.py) hold them and the SQL to the same behaviour.

A transaction works on the store's rows and, like the database, keeps nothing of a block that
raised: it puts back a copy taken when the block began."""
from __future__ import annotations

import copy
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from dealsvc.domain import funnel
from dealsvc.domain import offers as offer_rules
from dealsvc.domain import reservations as hold_rules
from dealsvc.domain.offers import ACTIVE, SOLD_OUT
from dealsvc.domain.outbox import PRICE_PREFIX, SHOP_CLOSED, FanoutKind, PushKind, PushStatus
from dealsvc.domain.reservations import HELD
from dealsvc.domain.text import address_key
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
    offers: dict[str, Row] = field(default_factory=dict)  # by id
    fanouts: list[Row] = field(default_factory=list)  # in the order made
    reservations: dict[str, Row] = field(default_factory=dict)  # by id
    notifications: dict[int, Row] = field(default_factory=dict)  # by id
    push_batches: dict[int, Row] = field(default_factory=dict)  # by id
    idempotency_keys: dict[tuple[str, str], Row] = field(default_factory=dict)  # by (scope, key)
    merchants: dict[str, Row] = field(default_factory=dict)  # by id
    # The one row of rules in force, as the first migration leaves it: every rule at its default.
    operator_rules: Row = field(default_factory=lambda: Row(id=1, stored={}, updated_at=None))
    rule_changes: list[Row] = field(default_factory=list)  # in the order made; .id from 1
    audit_entries: list[Row] = field(default_factory=list)  # in the order kept; .id from 1
    web_sessions: dict[str, Row] = field(default_factory=dict)  # by id_hash
    leases: dict[str, Row] = field(default_factory=dict)  # by name
    push_quota: dict[tuple[int, str], Row] = field(default_factory=dict)  # by (subscriber_pk, day)
    geocode_cache: dict[str, Row] = field(default_factory=dict)  # by query (domain/text.address_key)


class MemoryQueries:
    """The queries of adapters/db/queries, on Tables."""

    def __init__(self, tables: Tables):
        self.t = tables

    @staticmethod
    def _drop(rows: dict, gone) -> int:
        """Deletes the rows `gone` says go; how many."""
        keys = [key for key, row in rows.items() if gone(row)]
        for key in keys:
            del rows[key]
        return len(keys)

    # subscribers
    def live_subscriber(self, subscriber_id: str, *, lock: bool = False) -> Row | None:
        sub = self.t.subscribers.get(subscriber_id)
        return sub if sub is not None and sub.deleted_at is None else None

    # shops
    def shop(self, shop_id: str, *, lock: bool = False) -> Row | None:
        return self.t.shops.get(shop_id)

    def shops_of_merchant(self, merchant_id: str) -> list[Row]:
        return sorted((s for s in self.t.shops.values() if s.merchant_id == merchant_id), key=lambda s: s.created_at)

    def count_shops_of_merchant(self, merchant_id: str) -> int:
        return len(self.shops_of_merchant(merchant_id))

    def add_shop(self, **columns) -> Row:
        shop = Row(**columns)
        self.t.shops[shop.id] = shop
        return shop

    def lock_merchant_row(self, merchant_id: str) -> None:
        pass  # one transaction at a time in memory

    def waiting_waves_of_shop(self, shop_id: str) -> list[tuple[Row, Row]]:
        waiting = [(f, self.t.offers.get(f.offer_id)) for f in self.t.fanouts if f.kind == FanoutKind.OFFER and f.done_at is None]
        return [(f, offer) for f, offer in waiting if offer is not None and offer.shop_id == shop_id]

    def redue_pushes_held_for_opening(self, shop_id: str, now: datetime) -> int:
        live = {o.id for o in self.offers_of_shop(shop_id) if offer_rules.is_live(o.status, o.expires_at, now)}
        held = [n for n in self.t.notifications.values() if n.offer_id in live and n.reason == SHOP_CLOSED
                and ((n.status == PushStatus.PENDING and n.due_at > now) or n.status == PushStatus.SUPPRESSED)]
        for n in held:
            n.status, n.due_at, n.pending_due_at = PushStatus.PENDING, now, now
        return len(held)

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
            raise IntegrityConflict(f"idempotency key {scope!r}")
        self.t.idempotency_keys[(scope, key)] = Row(scope=scope, key=key, fingerprint=fingerprint, status_code=status_code,
                                                    response=copy.deepcopy(response), created_at=now)

    def offer(self, offer_id: str, *, lock: bool = False) -> Row | None:
        return self.t.offers.get(offer_id)

    def merchants_offer(self, merchant_id: str, offer_id: str, *, lock: bool = False) -> Row | None:
        offer = self.t.offers.get(offer_id)
        return offer if offer is not None and self.t.shops[offer.shop_id].merchant_id == merchant_id else None

    def offers_of_shop(self, shop_id: str) -> list[Row]:
        return sorted((o for o in self.t.offers.values() if o.shop_id == shop_id), key=lambda o: o.created_at, reverse=True)

    def add_offer(self, **columns) -> Row:
        if columns["id"] in self.t.offers:
            raise IntegrityConflict(f"offer {columns['id']} exists")
        offer = Row(**columns)
        self.t.offers[offer.id] = offer
        return offer

    def _live_offers_at_shops(self, now: datetime, inside) -> list[tuple[Row, Row]]:
        """(offer, shop) of the offers active at `now` at the shops `inside` says."""
        return [(o, self.t.shops[o.shop_id]) for o in self.t.offers.values()
                if o.status == offer_rules.ACTIVE and o.expires_at > now and inside(self.t.shops[o.shop_id])]

    def live_offers_in_box(self, box, now: datetime, category: str | None) -> list[tuple[Row, Row]]:
        return [(o, shop) for o, shop in self._live_offers_at_shops(
            now, lambda s: box.min_lat <= s.lat <= box.max_lat and box.min_lon <= s.lon <= box.max_lon)
            if not category or o.category == category]

    def _pushes_of(self, offer_id: str) -> list[Row]:
        return [n for n in self.t.notifications.values() if n.offer_id == offer_id]

    def offer_push_counts(self, offer_id: str) -> dict[str, int]:
        return dict(Counter(n.status for n in self._pushes_of(offer_id) if n.kind == PushKind.OFFER))

    def offer_openers(self, offer_id: str) -> int:
        return len({n.subscriber_pk for n in self._pushes_of(offer_id)
                    if n.kind != PushKind.WITHDRAW and n.opened_at is not None and n.subscriber_pk is not None})

    def offer_price_drops_sent(self, offer_id: str) -> int:
        return sum(1 for n in self._pushes_of(offer_id) if n.kind.startswith(PRICE_PREFIX) and n.status == PushStatus.SENT)

    def offer_held_quantities(self, offer_id: str, now: datetime) -> dict[str, int]:
        held: Counter = Counter()
        for r in self.t.reservations.values():
            if r.offer_id == offer_id:
                held[hold_rules.EXPIRED if r.status == HELD and r.expires_at <= now else r.status] += r.quantity
        return dict(held)

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

    def live_offers_of_merchant(self, merchant_id: str, now: datetime) -> list[Row]:
        return sorted((o for o in self._offers_of_shops(self.shop_ids_of_merchant(merchant_id))
                       if o.status in (offer_rules.ACTIVE, SOLD_OUT) and o.expires_at > now), key=lambda o: o.id)

    # auth
    def merchant_with_key(self, api_key_hash: str) -> Row | None:
        return next((m for m in self.t.merchants.values() if m.api_key_hash == api_key_hash), None)

    def subscriber_id_with_secret(self, secret_hash: str) -> str | None:
        return next((sub.id for sub in self.t.subscribers.values() if sub.secret_hash == secret_hash), None)

    def web_session(self, id_hash: str) -> Row | None:
        return self.t.web_sessions.get(id_hash)

    def add_web_session(self, id_hash: str, role: str, subject: str, created_at: datetime, expires_at: datetime) -> None:
        self.t.web_sessions[id_hash] = Row(id_hash=id_hash, role=role, subject=subject, created_at=created_at,
                                           expires_at=expires_at)

    def delete_web_session(self, id_hash: str) -> None:
        self.t.web_sessions.pop(id_hash, None)

    def delete_expired_web_sessions(self, now: datetime) -> None:
        self._drop(self.t.web_sessions, lambda w: w.expires_at <= now)

    def delete_web_sessions_of(self, role: str, subject: str) -> None:
        self._drop(self.t.web_sessions, lambda w: w.role == role and w.subject == subject)

    # erasure
    def shop_ids_of_merchant(self, merchant_id: str) -> list[str]:
        return [s.id for s in self.t.shops.values() if s.merchant_id == merchant_id]

    def _offers_of_shops(self, shop_ids: list[str]) -> list[Row]:
        return [o for o in self.t.offers.values() if o.shop_id in set(shop_ids)]

    def pictures_of_shops(self, shop_ids: list[str]) -> set[str]:
        return {name for o in self._offers_of_shops(shop_ids) for name in (o.photo, o.thumbnail) if name}

    def forget_geocoded_addresses(self, shop_ids: list[str]) -> None:
        theirs = {address_key(s.address) for s in self.t.shops.values() if s.id in set(shop_ids) and s.address is not None}
        others = {address_key(s.address) for s in self.t.shops.values() if s.id not in set(shop_ids) and s.address is not None}
        for key in theirs - others:
            self.t.geocode_cache.pop(key, None)

    def erase_shops_and_offers_texts(self, shop_ids: list[str], shop_name: str, now: datetime) -> None:
        for shop_id in shop_ids:
            shop = self.t.shops[shop_id]
            shop.name, shop.address, shop.updated_at = shop_name, None, now
        for o in self._offers_of_shops(shop_ids):
            o.description = o.image_url = o.photo = o.thumbnail = None

    def count_offers_of_shops(self, shop_ids: list[str]) -> int:
        return len(self._offers_of_shops(shop_ids))

    # activity: a count per hour starting at each of `starts`
    @staticmethod
    def _per_hour(times, starts: list[datetime]) -> list[int]:
        times = [t for t in times if t is not None]
        return [sum(1 for t in times if start <= t < start + timedelta(hours=1)) for start in starts]

    def _offer_alerts(self, status: str) -> list[Row]:
        return [n for n in self.t.notifications.values() if n.kind == PushKind.OFFER and n.status == status]

    def alerts_per_hour_sent(self, starts: list[datetime]) -> list[int]:
        return self._per_hour((n.sent_at for n in self._offer_alerts(PushStatus.SENT)), starts)

    def alerts_per_hour_queued(self, status: str, starts: list[datetime]) -> list[int]:
        return self._per_hour((n.created_at for n in self._offer_alerts(status)), starts)

    def offers_per_hour_posted(self, starts: list[datetime]) -> list[int]:
        return self._per_hour((o.created_at for o in self.t.offers.values()), starts)

    def offers_per_hour_sold_out(self, starts: list[datetime]) -> list[int]:
        return self._per_hour((o.updated_at for o in self.t.offers.values() if o.status == SOLD_OUT), starts)

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

    def alerts_sent_to(self, subscriber_pk: int) -> list[tuple[Row, str, str]]:
        mine = sorted((n for n in self.t.notifications.values() if n.subscriber_pk == subscriber_pk),
                      key=lambda n: (n.created_at, n.id))
        return [(n, self.t.offers[n.offer_id].title, self.t.offers[n.offer_id].shop_id) for n in mine]

    def remove_favorites_of(self, subscriber_pk: int) -> None:
        self._drop(self.t.favorites, lambda f: f.subscriber_pk == subscriber_pk)

    # retention
    def drop_tokens_unseen_since(self, before: datetime, now: datetime) -> int:
        stale = [sub for sub in self.t.subscribers.values()
                 if sub.token_seen_at is not None and sub.token_seen_at < before and sub.fcm_token != ""]
        for sub in stale:
            sub.fcm_token, sub.token_seen_at, sub.active, sub.updated_at = "", None, False, now
            sub.deactivated_at = sub.deactivated_at or now
        return len(stale)

    def departed_residents(self, deactivated_before: datetime, limit: int) -> list[Row]:
        departed = [sub for sub in self.t.subscribers.values() if not sub.active and sub.deleted_at is None
                    and sub.deactivated_at is not None and sub.deactivated_at < deactivated_before]
        return sorted(departed, key=lambda sub: sub.pk)[:limit]

    def unlink_old_alerts(self, before: datetime) -> int:
        old = [n for n in self.t.notifications.values() if n.created_at < before and n.subscriber_pk is not None
               and n.status not in (PushStatus.PENDING, PushStatus.SENDING)]
        for n in old:
            n.subscriber_pk = n.distance_m = n.fcm_message_id = n.sent_by = None
        return len(old)

    def delete_idempotency_keys_before(self, before: datetime) -> int:
        return self._drop(self.t.idempotency_keys, lambda k: k.created_at < before)

    def delete_quota_days_before(self, day: str) -> int:
        return self._drop(self.t.push_quota, lambda d: d.day < day)

    def delete_web_sessions_expired_at(self, now: datetime) -> int:
        return self._drop(self.t.web_sessions, lambda w: w.expires_at < now)

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
        return self.merchants_offer(merchant_id, offer_id)

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

    def _active_residents(self) -> list[Row]:
        return [sub for sub in self.t.subscribers.values() if sub.active]

    def count_active_followers(self, shop_id: str) -> int:
        active = {sub.pk for sub in self._active_residents()}
        return sum(1 for pk, followed in self.t.favorites if followed == shop_id and pk in active)

    def count_active_residents(self) -> int:
        return len(self._active_residents())

    def offer_waves_of(self, offer_ids) -> list[Row]:
        waves = [f for f in self.t.fanouts if f.offer_id in set(offer_ids) and f.kind == FanoutKind.OFFER]
        return sorted(waves, key=lambda f: (f.offer_id, f.seq))

    def count_offer_pushes_sent_since(self, since: datetime) -> int:
        return sum(1 for n in self.t.notifications.values()
                   if n.kind == PushKind.OFFER and n.status == PushStatus.SENT and n.sent_at >= since)

    def offer_pushes_failed_or_suppressed_since(self, since: datetime) -> dict[str, int]:
        found: dict[str, int] = {}
        for n in self.t.notifications.values():
            if n.kind == PushKind.OFFER and n.status in (PushStatus.FAILED, PushStatus.SUPPRESSED) and n.created_at >= since:
                found[n.status] = found.get(n.status, 0) + 1
        return found

    def count_residents_deactivated_since(self, since: datetime) -> int:
        return sum(1 for s in self.t.subscribers.values() if not s.active and s.deleted_at is None and s.updated_at >= since)

    def count_live_offers(self, now: datetime) -> int:
        return sum(1 for o in self.t.offers.values() if o.status == offer_rules.ACTIVE and o.expires_at > now)

    def active_resident_places_in(self, south: float, west: float, north: float, east: float) -> list[tuple[int, float, float]]:
        def inside(lat, lon):
            return south <= lat <= north and west <= lon <= east

        active = self._active_residents()
        return ([(sub.pk, sub.lat, sub.lon) for sub in active if inside(sub.lat, sub.lon)]
                + [(sub.pk, p.lat, p.lon) for sub in active for p in sub.places if inside(p.lat, p.lon)])

    def live_offers_in(self, south: float, west: float, north: float, east: float, now: datetime, limit: int) -> list[dict]:
        live = self._live_offers_at_shops(now, lambda s: south <= s.lat <= north and west <= s.lon <= east)
        live.sort(key=lambda found: found[0].created_at, reverse=True)
        return [{"id": o.id, "title": o.title, "price_cents": o.price_cents, "discount_pct": o.discount_pct,
                 "quantity_left": o.quantity_left, "expires_at": o.expires_at, "shop": shop.name, "lat": shop.lat,
                 "lon": shop.lon} for o, shop in live[:limit]]

    def push_to_resident(self, notification_id: int, subscriber_id: str) -> Row | None:
        push, sub = self.t.notifications.get(notification_id), self.t.subscribers.get(subscriber_id)
        return push if push is not None and sub is not None and push.subscriber_pk == sub.pk else None

    def mark_push_opened(self, notification_id: int, now: datetime) -> None:
        push = self.t.notifications.get(notification_id)
        if push is not None and push.opened_at is None:
            push.opened_at = now

    def offers_posted_at_shop(self, shop_id: str) -> list[dict]:
        mine = sorted((o for o in self.t.offers.values() if o.shop_id == shop_id), key=lambda o: o.id)
        mine.sort(key=lambda o: o.created_at, reverse=True)
        return [{"id": o.id, "title": o.title, "status": o.status, "quantity": o.quantity, "created_at": o.created_at,
                 "expires_at": o.expires_at} for o in mine]

    def _funnel_stages(self, told: Row) -> tuple[str | None, bool, bool, bool]:
        """(ring, opened, reserved, collected) of a sent alert, worked out as the SQL does."""
        ring = None
        if told.distance_m is not None:
            ring = next((r.key for r in funnel.RINGS if r.high is not None and told.distance_m < r.high), funnel.RINGS[-1].key)
        same = [r for r in self.t.reservations.values() if (r.offer_id, r.subscriber_pk) == (told.offer_id, told.subscriber_pk)]
        opened = any(n.offer_id == told.offer_id and n.subscriber_pk == told.subscriber_pk and n.kind != PushKind.WITHDRAW
                     and n.opened_at is not None for n in self.t.notifications.values())
        return ring, opened, bool(same), any(r.status == hold_rules.COLLECTED for r in same)

    def _sent_alerts(self):
        return self._offer_alerts(PushStatus.SENT)

    def funnel_counts_of_shop(self, shop_id: str) -> list[funnel.Counted]:
        counted: dict[tuple[str, str | None], funnel.Tally] = {}
        for told in self._sent_alerts():
            if self.t.offers[told.offer_id].shop_id != shop_id:
                continue
            if told.subscriber_pk is None:
                ring, opened, reserved, collected = (told.kept_ring, told.kept_opened is True, told.kept_reserved is True,
                                                     told.kept_collected is True)
            else:
                ring, opened, reserved, collected = self._funnel_stages(told)
            counted.setdefault((told.offer_id, ring), funnel.Tally()).add(funnel.Tally(1, int(opened), int(reserved), int(collected)))
        return [funnel.Counted(offer_id, ring, tally) for (offer_id, ring), tally in counted.items()]

    def keep_funnel_stages_of_alerts_before(self, before: datetime) -> int:
        old = [n for n in self._sent_alerts() if n.created_at < before and n.subscriber_pk is not None]
        for told in old:
            told.kept_ring, told.kept_opened, told.kept_reserved, told.kept_collected = self._funnel_stages(told)
        return len(old)

    def claim_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        lease = self.t.leases.setdefault(name, Row(name=name, holder=holder, expires_at=until))
        if lease.holder == holder or lease.expires_at < now:
            lease.holder, lease.expires_at = holder, until
            return True
        return False

    def lease_expiry(self, name: str) -> datetime | None:
        lease = self.t.leases.get(name)
        return lease.expires_at if lease is not None else None

    def release_lease(self, name: str, holder: str, expired_at: datetime) -> None:
        lease = self.t.leases.get(name)
        if lease is not None and lease.holder == holder:
            lease.expires_at = expired_at

    def offer_expiries_changed_since(self, since: datetime, statuses) -> list[tuple[str, datetime]]:
        return [(o.id, o.expires_at) for o in self.t.offers.values() if o.status in statuses and o.updated_at >= since]

    def hold_expiries(self, made_since: datetime | None = None) -> list[tuple[str, str, datetime]]:
        return [(r.id, r.offer_id, r.expires_at) for r in self.t.reservations.values()
                if r.status == hold_rules.HELD and (made_since is None or r.created_at >= made_since)]


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


# The instant the tests' rows are made at (a Saturday, 19:00 in Rome).
T0 = datetime(2026, 12, 5, 18, 0, tzinfo=timezone.utc)


class Clock:
    """The services' clock, set by the test: `clock.now` is what they read (T0 to begin with)."""

    def __init__(self, now: datetime | None = None):
        self.now = now or T0

    def __call__(self) -> datetime:
        return self.now


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
    def add_subscriber(self, subscriber_id: str, *, lat: float = 45.465, lon: float = 9.19, places=(), active: bool = True,
                       deleted_at: datetime | None = None) -> int:
        """A resident at (lat, lon), with extra `places` ((lat, lon) each); its key."""
        sub = MemoryQueries(self.tables).add_subscriber(id=subscriber_id, lat=lat, lon=lon, active=active, deleted_at=deleted_at)
        sub.places = [Row(subscriber_pk=sub.pk, position=n, lat=p_lat, lon=p_lon) for n, (p_lat, p_lon) in enumerate(places, start=1)]
        return sub.pk

    def add_merchant(self, merchant_id: str, name: str = "Forno Rossi", *, status: str = "active") -> None:
        """A merchant signed up at T0, whose API key hashes to "hash-" and its id."""
        self.tables.merchants[merchant_id] = Row(
            id=merchant_id, name=name, email=f"{merchant_id}@shop.example", status=status,
            api_key_hash=f"hash-{merchant_id}", created_at=T0, erased_at=None,
        )

    def add_shop(self, shop_id: str, name: str = "Forno Rossi", *, category: str = "bakery", merchant_id: str | None = None,
                 lat: float = 45.4642, lon: float = 9.19, timezone: str = "Europe/Rome", address: str | None = None,
                 opening_hours: str | None = None) -> None:
        self.tables.shops[shop_id] = Row(id=shop_id, name=name, category=category, merchant_id=merchant_id, lat=lat, lon=lon,
                                         timezone=timezone, address=address, opening_hours=opening_hours,
                                         created_at=T0, updated_at=T0)

    def add_push(self, offer_id: str, subscriber_pk: int | None = None, made_at: datetime = T0, *,
                 kind: str = PushKind.OFFER, status: str = PushStatus.SENT, distance_m: float | None = None,
                 batch_attempts: int | None = None) -> int:
        """A push of the offer to the resident (an alert unless `kind` says otherwise), made at
        `made_at` and sent then if `status` says so, in a batch tried `batch_attempts` times if
        given; its id."""
        nid = len(self.tables.notifications) + 1
        batch_id = None
        if batch_attempts is not None:
            batch_id = len(self.tables.push_batches) + 1
            self.tables.push_batches[batch_id] = Row(id=batch_id, attempts=batch_attempts)
        self.tables.notifications[nid] = Row(
            id=nid, offer_id=offer_id, subscriber_pk=subscriber_pk, kind=kind, status=status, reason=None,
            distance_m=distance_m, created_at=made_at, due_at=made_at, pending_due_at=None, lease_until=None, batch_id=batch_id,
            sent_at=made_at if status == PushStatus.SENT else None, opened_at=None, fcm_message_id=None, sent_by=None,
            kept_ring=None, kept_opened=None, kept_reserved=None, kept_collected=None,
        )
        return nid

    def set_waves(self, offer_id: str, waves) -> None:
        """The offer's fan-outs: (kind, seq, matched, done_at, due_at) each."""
        self.tables.fanouts = [f for f in self.tables.fanouts if f.offer_id != offer_id] + [
            Row(offer_id=offer_id, kind=kind, seq=seq, matched=matched, done_at=done_at, due_at=due_at)
            for kind, seq, matched, done_at, due_at in waves
        ]

    def add_offer(self, offer_id: str, shop_id: str, posted_at: datetime, *, first_wave: bool = True, **columns) -> Row:
        """An active offer of 5 posted at `posted_at`, expiring two hours later, unless `columns`
        say otherwise; `first_wave`: with its first wave due, as OfferService posts one."""
        row = dict(
            id=offer_id, shop_id=shop_id, title="Pane di ieri", description=None, category="bakery",
            original_price_cents=400, price_cents=200, discount_pct=50.0, currency="EUR", quantity=5,
            quantity_left=5, expires_at=posted_at + timedelta(hours=2), status=offer_rules.ACTIVE, image_url=None,
            photo=None, thumbnail=None, created_at=posted_at, updated_at=posted_at, price_steps=None, price_step=0,
            next_step_at=None,
        )
        row.update(columns)
        self.tables.offers[offer_id] = offer = Row(**row)
        if first_wave:
            MemoryQueries(self.tables).add_fanout(offer_id, FanoutKind.OFFER, posted_at)
        return offer

    def add_hold(self, offer_id: str, subscriber_pk: int | None = None, made_at: datetime | None = None, *,
                 quantity: int = 1, expires_at: datetime | None = None, status: str = HELD) -> str:
        """A reservation of `quantity` (held unless `status` says otherwise), taken from the
        offer's stock, made at `made_at` (when the offer was posted, if not given) and held for
        30 minutes unless `expires_at` says otherwise; its id (res_1, res_2... in the order made)."""
        offer = self.tables.offers[offer_id]
        made_at = made_at or offer.created_at
        reservation_id = f"res_{len(self.tables.reservations) + 1}"
        offer.quantity_left -= quantity
        self.tables.reservations[reservation_id] = Row(
            id=reservation_id, offer_id=offer_id, subscriber_pk=subscriber_pk, quantity=quantity, status=status,
            code=f"ABC{len(self.tables.reservations) + 234}", created_at=made_at, updated_at=made_at, expires_at=expires_at or made_at + timedelta(minutes=30),
        )
        return reservation_id
