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
