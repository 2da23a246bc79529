"""The contract of the services' queries (dealsvc/services/ports.py): what the SQL of
adapters/db/queries and the in-memory fakes of tests/support/fakes.py must both do. Each check
takes a world: its `store` (the transactions) and the rows a check starts from, made the way its
implementation makes them (the API for SQL, plain rows in memory).

tests/unit/test_store_contracts_memory.py runs every check on the fake; tests/integration/
test_store_contracts.py on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from .fakes import MemoryStore, Row

T0 = datetime(2026, 12, 5, 18, 0, tzinfo=timezone.utc)


class MemoryWorld:
    def __init__(self):
        self.store = MemoryStore()
        self._n = 0

    def subscriber(self) -> str:
        self._n += 1
        subscriber_id = f"sub_{self._n}"
        self.store.add_subscriber(subscriber_id)
        return subscriber_id

    def delete_subscriber(self, subscriber_id: str) -> None:
        self.store.tables.subscribers[subscriber_id].deleted_at = T0

    def shop(self, name: str) -> str:
        self._n += 1
        shop_id = f"shp_{self._n}"
        self.store.add_shop(shop_id, name=name)
        return shop_id

    def merchant(self, name: str) -> str:
        self._n += 1
        merchant_id = f"mer_{self._n}"
        self.store.tables.merchants[merchant_id] = Row(
            id=merchant_id, name=name, email=f"{merchant_id}@shop.example", status="active",
            api_key_hash=f"hash-{merchant_id}", created_at=T0, erased_at=None,
        )
        return merchant_id


class SqlWorld:
    def __init__(self, api, container):
        from dealsvc.adapters.db.store import Store

        self.api = api
        self.store = Store(container.db)
        self._secrets: dict[str, str] = {}
        self._key = api.merchant()["api_key"]

    def subscriber(self) -> str:
        made = self.api.subscriber()
        self._secrets[made["id"]] = made["secret"]
        return made["id"]

    def delete_subscriber(self, subscriber_id: str) -> None:
        r = self.api.c.delete(f"/api/v1/subscribers/{subscriber_id}", headers=self.api.h(self._secrets[subscriber_id]))
        assert r.status_code == 204, r.json

    def shop(self, name: str) -> str:
        return self.api.shop(self._key, name=name)["id"]

    def merchant(self, name: str) -> str:
        return self.api.merchant(name=name)["id"]


def pk_of(world, subscriber_id: str) -> int:
    with world.store.read() as q:
        return q.live_subscriber(subscriber_id).pk


# --- the checks ------------------------------------------------------------------------------


def check_a_deleted_subscriber_is_not_found(world):
    kept, gone = world.subscriber(), world.subscriber()
    world.delete_subscriber(gone)
    with world.store.write() as q:
        assert q.live_subscriber(kept, lock=True).id == kept
        assert q.live_subscriber(gone) is None
        assert q.live_subscriber("sub_nobody") is None


def check_favourites_are_kept_listed_oldest_first_and_removed(world):
    resident, other = world.subscriber(), world.subscriber()
    bakery, dairy = world.shop("Forno Rossi"), world.shop("Latteria Bianchi")
    me, them = pk_of(world, resident), pk_of(world, other)
    with world.store.write() as q:
        q.add_favorite(me, dairy, T0 + timedelta(minutes=1))
        q.add_favorite(me, bakery, T0)
        q.add_favorite(them, bakery, T0)
    with world.store.read() as q:
        assert [(f.shop_id, shop.name) for f, shop in q.favorites_of(me)] == [(bakery, "Forno Rossi"), (dairy, "Latteria Bianchi")]
        assert q.count_favorites(me) == 2 and q.count_favorites(them) == 1
        assert q.favorite(me, bakery).created_at == T0
        assert q.favorite(them, dairy) is None
        assert q.shop(bakery).name == "Forno Rossi" and q.shop("shp_nowhere") is None
    with world.store.write() as q:
        q.remove_favorite(q.favorite(me, bakery))
    with world.store.read() as q:
        assert [f.shop_id for f, _ in q.favorites_of(me)] == [dairy]
        assert q.count_favorites(them) == 1


def check_a_transaction_that_raises_keeps_nothing(world):
    resident, bakery = world.subscriber(), world.shop("Forno Rossi")
    me = pk_of(world, resident)
    with pytest.raises(RuntimeError):
        with world.store.write() as q:
            q.add_favorite(me, bakery, T0)
            raise RuntimeError("the service refused half-way")
    with world.store.read() as q:
        assert q.favorite(me, bakery) is None and q.count_favorites(me) == 0


# --- offers, shops, lifecycle, price steps, photos, idempotency ---------------------------------


# --- merchants, auth, rules, audit, erasure, outage, breaker, activity --------------------------


def check_the_rules_are_changed_under_a_lock_and_their_history_read_newest_first(world):
    with world.store.read() as q:
        assert q.stored_rules() == {}  # every rule at its default
        assert q.latest_rule_changes(10) == []
    with world.store.write() as q:
        row = q.rules_row_for_update()
        row.stored = {"min_discount_pct": 50}
        row.updated_at = T0
        q.add_rule_change(T0, "min_discount_pct", 40, 50, None)
        q.add_rule_change(T0 + timedelta(minutes=1), "merchant_approval_required", False, True, None)
    with world.store.read() as q:
        assert q.stored_rules() == {"min_discount_pct": 50}
        latest = q.latest_rule_changes(10)
        assert [(c.name, c.old_value, c.new_value, c.audit_id) for c in latest] == [
            ("merchant_approval_required", False, True, None), ("min_discount_pct", 40, 50, None)]
        assert latest[1].changed_at == T0
        assert [c.name for c in q.latest_rule_changes(1)] == ["merchant_approval_required"]


def check_a_change_of_rules_that_raises_keeps_nothing(world):
    with pytest.raises(RuntimeError):
        with world.store.write() as q:
            q.rules_row_for_update().stored = {"min_discount_pct": 50}
            q.add_rule_change(T0, "min_discount_pct", 40, 50, None)
            raise RuntimeError("the change was refused half-way")
    with world.store.read() as q:
        assert q.stored_rules() == {} and q.latest_rule_changes(10) == []


def check_audit_entries_are_kept_and_read_newest_first_with_their_rule_changes(world):
    baker = world.merchant("Forno Rossi")
    with world.store.write() as q:
        first = q.add_audit_entry(T0, "api", "5c1f0e9a7b3d", "rules_changed", None, None)
        q.add_rule_change(T0, "min_discount_pct", 40, 50, first)
        q.add_rule_change(T0, "max_radius_m", 5000, 3000, first)
        second = q.add_audit_entry(T0 + timedelta(minutes=1), "console", "a1b2c3d4e5f6", "merchant_suspended",
                                   baker, {"status_before": "active", "offers_withdrawn": 2})
        third = q.add_audit_entry(T0 + timedelta(minutes=2), "console", "a1b2c3d4e5f6", "signed_out", None, None)
    assert first < second < third
    with world.store.read() as q:
        assert [e.id for e in q.latest_audit_entries(10)] == [third, second, first]
        assert [e.id for e in q.latest_audit_entries(2)] == [third, second]
        assert [e.id for e in q.latest_audit_entries(10, before=third)] == [second, first]
        assert q.latest_audit_entries(10, before=first) == []
        entry = q.latest_audit_entries(1, before=third)[0]
        assert (entry.at, entry.actor_kind, entry.actor, entry.action, entry.target, entry.detail) == (
            T0 + timedelta(minutes=1), "console", "a1b2c3d4e5f6", "merchant_suspended", baker,
            {"status_before": "active", "offers_withdrawn": 2})
        assert q.latest_audit_entries(1, before=second)[0].detail is None
        assert [(c.audit_id, c.name) for c in q.rule_changes_of_audit_entries([first, second])] == [
            (first, "min_discount_pct"), (first, "max_radius_m")]
        assert q.rule_changes_of_audit_entries([]) == [] and q.rule_changes_of_audit_entries([third]) == []
        assert q.merchant_names({baker, "mer_nobody"}) == {baker: "Forno Rossi"}
        assert q.merchant_names(set()) == {}


def check_merchants_are_added_once_per_email_and_found_by_id_status_and_key(world):
    with world.store.write() as q:
        assert q.add_merchant("mer_a", "Forno Rossi", "a@shop.example", "pending", "hash-a", T0).id == "mer_a"
        q.add_merchant("mer_b", "Latteria Bianchi", "b@shop.example", "active", "hash-b", T0 + timedelta(minutes=1))
        assert q.add_merchant("mer_c", "Forno Verdi", "a@shop.example", "active", "hash-c", T0) is None
        # The constraint itself refuses (a sign-up racing another): the transaction goes on.
        assert q.add_merchant("mer_d", "Forno Neri", "d@shop.example", "active", "hash-b", T0) is None
        assert q.merchant("mer_a", lock=True).status == "pending"
        assert q.merchant_status("mer_b", hold=True) == "active"
    ours = {"mer_a", "mer_b", "mer_c", "mer_d"}
    with world.store.read() as q:
        m = q.merchant("mer_a")
        assert (m.name, m.email, m.status, m.api_key_hash, m.created_at, m.erased_at) == (
            "Forno Rossi", "a@shop.example", "pending", "hash-a", T0, None)
        assert q.merchant("mer_c") is None and q.merchant("mer_nobody") is None
        assert q.merchant_status("mer_a") == "pending" and q.merchant_status("mer_nobody") is None
        assert [m.id for m in q.merchants() if m.id in ours] == ["mer_a", "mer_b"]
        assert [m.id for m in q.merchants("pending")] == ["mer_a"]
        assert [m.id for m in q.merchants("active") if m.id in ours] == ["mer_b"]
        assert q.merchant_with_key("hash-b").id == "mer_b" and q.merchant_with_key("hash-c") is None


def check_web_sessions_are_opened_found_and_closed(world):
    with world.store.write() as q:
        q.add_web_session("h-shop", "merchant", "mer_a", T0, T0 + timedelta(hours=12))
        q.add_web_session("h-shop-2", "merchant", "mer_a", T0, T0 + timedelta(hours=12))
        q.add_web_session("h-other-shop", "merchant", "mer_b", T0, T0 + timedelta(hours=12))
        q.add_web_session("h-console", "operator", "mark", T0, T0 + timedelta(hours=1))
    with world.store.read() as q:
        w = q.web_session("h-shop")
        assert (w.role, w.subject, w.created_at, w.expires_at) == ("merchant", "mer_a", T0, T0 + timedelta(hours=12))
        assert q.web_session("h-nobody") is None
    with world.store.write() as q:
        q.delete_expired_web_sessions(T0 + timedelta(hours=1))  # expiring at that very moment: gone
        q.delete_web_session("h-shop")
        q.delete_web_session("h-nobody")
    with world.store.read() as q:
        assert [h for h in ("h-shop", "h-shop-2", "h-other-shop", "h-console") if q.web_session(h)] == [
            "h-shop-2", "h-other-shop"]
    with world.store.write() as q:
        q.delete_web_sessions_of("merchant", "mer_a")
    with world.store.read() as q:
        assert q.web_session("h-shop-2") is None and q.web_session("h-other-shop").subject == "mer_b"


# --- subscribers, followers, retention, reservations --------------------------------------------


# --- figures, maps, funnel, scheduler -----------------------------------------------------------


CHECKS = [check for name, check in sorted(globals().items()) if name.startswith("check_")]
