"""The contract of the services' queries (dealsvc/services/ports.py): what the SQL of
adapters/db/queries and the in-memory fakes of tests/support/fakes.py must both do. Each check
takes a world: its `store` (the transactions) and the rows a check starts from, made the way its
implementation makes them (the API for SQL, plain rows in memory).

tests/unit/test_store_contracts_memory.py runs every check on the fake; tests/integration/
test_store_contracts.py on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from .fakes import MemoryStore

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


# --- subscribers, followers, retention, reservations --------------------------------------------


# --- figures, maps, funnel, scheduler -----------------------------------------------------------


CHECKS = [check for name, check in sorted(globals().items()) if name.startswith("check_")]
