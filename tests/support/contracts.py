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


    # offers group
    def offer(self, shop_id: str, *, steps_in_min: tuple[int, ...] = ()) -> str:
        """An active offer of the shop, expiring in two hours, with price steps due that many
        minutes after it was posted."""
        self._n += 1
        offer_id = f"off_{self._n}"
        steps = [{"at": (T0 + timedelta(minutes=m)).isoformat(), "price_cents": 150 - m, "discount_pct": 60.0} for m in steps_in_min]
        self.store.add_offer(offer_id, shop_id, T0, price_steps=steps or None,
                             next_step_at=T0 + timedelta(minutes=steps_in_min[0]) if steps_in_min else None)
        return offer_id

    def set_offer_status(self, offer_id: str, status: str) -> None:
        """As its merchant would: "sold_out" or "cancelled"."""
        self.store.tables.offers[offer_id].status = status

    def hold(self, offer_id: str, quantity: int) -> None:
        self._n += 1
        self.store.add_hold(f"res_{self._n}", offer_id, quantity, T0 + timedelta(minutes=15))

    def alert(self, offer_id: str, status: str, *, batch_attempts: int | None = None) -> int:
        return self.store.add_alert(offer_id, status, batch_attempts=batch_attempts)

    def alert_states(self, offer_id: str) -> dict[int, tuple[str, str | None, int | None]]:
        """(status, reason, batch) of the offer's alerts, by id."""
        return {n.id: (n.status, n.reason, n.batch_id) for n in self.store.tables.notifications.values() if n.offer_id == offer_id}

    def fanouts(self, offer_id: str) -> list[tuple[str, int]]:
        """(kind, seq) of the offer's fanouts, in the order made."""
        return [(f.kind, f.seq) for f in self.store.tables.fanouts if f.offer_id == offer_id]

    def finish_waves(self, offer_id: str) -> None:
        for f in self.store.tables.fanouts:
            if f.offer_id == offer_id:
                f.done_at = T0

    def show_photo(self, offer_id: str, photo: str, thumbnail: str) -> None:
        offer = self.store.tables.offers[offer_id]
        offer.photo, offer.thumbnail = photo, thumbnail


class SqlWorld:
    def __init__(self, api, container):
        from dealsvc.adapters.db.store import Store

        self.api = api
        self.store = Store(container.db)
        self.db = container.db  # for the rows no API makes (pushes planned by the dispatcher)
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

    # offers group
    def offer(self, shop_id: str, *, steps_in_min: tuple[int, ...] = ()) -> str:
        now = datetime.now(timezone.utc)
        steps = [{"at": (now + timedelta(minutes=m)).isoformat(), "price_cents": 190 - 10 * i} for i, m in enumerate(steps_in_min)]
        made = self.api.offer(self._key, shop_id, beyond_closing=True, expires_at=(now + timedelta(hours=2)).isoformat(),
                              **({"price_steps": steps} if steps else {}))
        return made["id"]

    def set_offer_status(self, offer_id: str, status: str) -> None:
        r = self.api.c.patch(f"/api/v1/offers/{offer_id}", json={"status": status}, headers=self.api.h(self._key))
        assert r.status_code == 200, r.json

    def hold(self, offer_id: str, quantity: int) -> None:
        resident = self.api.subscriber()
        r = self.api.c.post(f"/api/v1/offers/{offer_id}/reservations", json={"quantity": quantity},
                            headers=self.api.h(resident["secret"]))
        assert r.status_code == 201, r.json

    def alert(self, offer_id: str, status: str, *, batch_attempts: int | None = None) -> int:
        from dealsvc.adapters.db.models import Notification, PushBatch

        pk = pk_of(self, self.subscriber())
        with self.db.write() as s:
            batch_id = None
            if batch_attempts is not None:
                batch = PushBatch(attempts=batch_attempts, created_at=T0)
                s.add(batch)
                s.flush()
                batch_id = batch.id
            alert = Notification(offer_id=offer_id, subscriber_pk=pk, kind="offer", status=status, due_at=T0,
                                 created_at=T0, batch_id=batch_id)
            s.add(alert)
            s.flush()
            return alert.id

    def alert_states(self, offer_id: str) -> dict[int, tuple[str, str | None, int | None]]:
        from dealsvc.adapters.db.models import Notification

        with self.db.read() as s:
            return {n.id: (n.status, n.reason, n.batch_id) for n in s.query(Notification).filter_by(offer_id=offer_id)}

    def fanouts(self, offer_id: str) -> list[tuple[str, int]]:
        from dealsvc.adapters.db.models import Fanout

        with self.db.read() as s:
            return [(f.kind, f.seq) for f in s.query(Fanout).filter_by(offer_id=offer_id).order_by(Fanout.id)]

    def finish_waves(self, offer_id: str) -> None:
        from dealsvc.adapters.db.models import Fanout

        with self.db.write() as s:
            s.query(Fanout).filter_by(offer_id=offer_id).update({"done_at": T0})

    def show_photo(self, offer_id: str, photo: str, thumbnail: str) -> None:
        from dealsvc.adapters.db.models import Offer

        with self.db.write() as s:
            s.query(Offer).filter_by(id=offer_id).update({"photo": photo, "thumbnail": thumbnail})


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


def check_an_idempotency_answer_is_kept_once(world):
    from dealsvc.services.ports import AlreadyStored

    with world.store.write() as q:
        assert q.idempotency_answer("merchant:m1:create-offer", "k1") is None
        q.keep_idempotency_answer("merchant:m1:create-offer", "k1", "f" * 64, 201, {"id": "off_1", "n": [1, None]}, T0)
    with pytest.raises(AlreadyStored):
        with world.store.write() as q:
            q.keep_idempotency_answer("merchant:m1:create-offer", "k1", "e" * 64, 201, {"id": "off_2"}, T0)
    with world.store.write() as q:
        q.keep_idempotency_answer("merchant:m2:create-offer", "k1", "e" * 64, 200, {"id": "off_3"}, T0)  # another scope
    with world.store.read() as q:
        kept = q.idempotency_answer("merchant:m1:create-offer", "k1")
        assert (kept.fingerprint, kept.status_code, kept.response) == ("f" * 64, 201, {"id": "off_1", "n": [1, None]})
        assert q.idempotency_answer("merchant:m2:create-offer", "k1").response == {"id": "off_3"}
        assert q.idempotency_answer("merchant:m1:create-offer", "k2") is None


def check_price_steps_are_due_on_live_offers_only(world):
    shop = world.shop("Forno Rossi")
    soon, later, none, ended = (world.offer(shop, steps_in_min=(10, 50)), world.offer(shop, steps_in_min=(5,)),
                                world.offer(shop), world.offer(shop, steps_in_min=(1,)))
    world.set_offer_status(ended, "cancelled")
    with world.store.read() as q:
        posted = q.offer(soon).created_at
        assert q.offers_with_step_due(posted, 10) == []
        assert q.offers_with_step_due(posted + timedelta(minutes=20), 10) == [later, soon]  # the longest due first
        assert q.offers_with_step_due(posted + timedelta(minutes=20), 1) == [later]
        assert q.offers_with_step_due(posted + timedelta(hours=3), 10) == []  # past their time
    with world.store.write() as q:
        assert q.offer_with_step_due(soon, posted) is None
        assert q.offer_with_step_due(ended, posted + timedelta(minutes=20)) is None
        assert q.offer_with_step_due(none, posted + timedelta(minutes=20)) is None
        offer = q.offer_with_step_due(soon, posted + timedelta(minutes=20))
        offer.next_step_at, offer.price_step = posted + timedelta(minutes=50), 1
        q.add_fanout(soon, "price", posted, seq=1)
    with world.store.read() as q:
        assert q.offers_with_step_due(posted + timedelta(minutes=20), 10) == [later]
        assert q.offer(soon).price_step == 1
    assert world.fanouts(soon) == [("offer", 1), ("price", 1)]


def check_an_offers_waves_are_counted_and_a_new_one_follows_the_last(world):
    offer = world.offer(world.shop("Forno Rossi"))
    with world.store.read() as q:
        assert q.has_pending_wave(offer) and q.last_wave_seq(offer) == 1  # posting promised the first
        assert not q.has_pending_wave("off_nothing") and q.last_wave_seq("off_nothing") == 0
    world.finish_waves(offer)
    with world.store.write() as q:
        assert not q.has_pending_wave(offer)
        q.add_fanout(offer, "withdraw", T0)
        assert not q.has_pending_wave(offer) and q.last_wave_seq(offer) == 1  # a withdrawal is no wave
        q.add_fanout(offer, "offer", T0, seq=2)
    with world.store.read() as q:
        assert q.has_pending_wave(offer) and q.last_wave_seq(offer) == 2
    assert world.fanouts(offer) == [("offer", 1), ("withdraw", 1), ("offer", 2)]


def check_holds_end_whole_or_once_lapsed_and_give_their_quantity(world):
    shop = world.shop("Forno Rossi")
    kept, other = world.offer(shop), world.offer(shop)
    world.hold(kept, 2)
    world.hold(kept, 1)
    world.hold(other, 1)
    with world.store.read() as q:
        posted = q.offer(kept).created_at
        assert q.offer(kept).quantity_left == 2
    lapsed = posted + timedelta(hours=3)  # after every hold's time
    with world.store.write() as q:
        assert q.offers_with_lapsed_holds(posted, 10) == []
        assert q.end_held_reservations(kept, "expired", posted, lapsed=True) == 0
        assert set(q.offers_with_lapsed_holds(lapsed, 10)) == {kept, other}
        assert len(q.offers_with_lapsed_holds(lapsed, 1)) == 1
        assert q.end_held_reservations(kept, "expired", lapsed, lapsed=True) == 3
        assert q.end_held_reservations(kept, "expired", lapsed, lapsed=True) == 0  # ended already
        assert q.end_held_reservations(other, "released", posted) == 1  # every hold, lapsed or not
    with world.store.read() as q:
        assert q.offers_with_lapsed_holds(lapsed, 10) == []
        assert q.offer(kept).quantity_left == 2  # the queries end holds; the stock is the caller's


def check_offers_due_to_expire_are_live_past_their_time(world):
    shop = world.shop("Forno Rossi")
    first, second, gone = world.offer(shop), world.offer(shop), world.offer(shop)
    world.set_offer_status(gone, "cancelled")
    live = ["active", "sold_out"]
    with world.store.write() as q:
        posted = q.offer(second).created_at
        expiry = q.offer(second).expires_at
        assert q.offers_due_to_expire(posted, live, limit=10) == []
        assert [o.id for o in q.offers_due_to_expire(expiry, live, limit=10)] == [first, second]  # the earliest first
        assert [o.id for o in q.offers_due_to_expire(expiry, live, limit=1)] == [first]
        assert [o.id for o in q.offers_due_to_expire(expiry, live, offer_id=second)] == [second]
        assert q.offers_due_to_expire(q.offer(gone).expires_at, live, offer_id=gone) == []  # withdrawn
        assert [o.id for o in q.offers_locked_skipping_locked([second, first, "off_nothing"])] == sorted([first, second])  # key order
        assert q.offer(first, lock=True).id == first and q.offer("off_nothing") is None


def check_waiting_alerts_are_dropped_and_due_again(world):
    offer = world.offer(world.shop("Forno Rossi"))
    pending = world.alert(offer, "pending")
    unclaimed = world.alert(offer, "sending", batch_attempts=0)
    claimed = world.alert(offer, "sending", batch_attempts=1)
    sent = world.alert(offer, "sent")
    with world.store.write() as q:
        q.drop_waiting_offer_alerts(offer, "offer_sold_out")
    states = world.alert_states(offer)
    assert states[pending] == states[unclaimed] == ("dropped", "offer_sold_out", None)
    assert states[claimed][0] == "sending" and states[claimed][2] is not None  # its claimer's to screen
    assert states[sent] == ("sent", None, None)
    with world.store.write() as q:
        q.redue_dropped_offer_alerts(offer, "offer_cancelled", T0)  # not why they were dropped
    assert world.alert_states(offer)[pending][0] == "dropped"
    with world.store.write() as q:
        q.redue_dropped_offer_alerts(offer, "offer_sold_out", T0)
    states = world.alert_states(offer)
    assert states[pending] == states[unclaimed] == ("pending", None, None)


def check_a_shop_is_read_the_same_locked_or_not(world):
    bakery = world.shop("Forno Rossi")
    with world.store.write() as q:
        assert q.shop(bakery, lock=True).name == q.shop(bakery).name == "Forno Rossi"
        assert q.shop("shp_nowhere", lock=True) is None


def check_a_photo_is_shown_while_an_offer_names_it(world):
    shop = world.shop("Forno Rossi")
    one, two = world.offer(shop), world.offer(shop)
    world.show_photo(one, "a" * 64 + ".jpg", "b" * 64 + ".jpg")
    world.show_photo(two, "a" * 64 + ".jpg", "c" * 64 + ".jpg")
    names = {"a" * 64 + ".jpg", "b" * 64 + ".jpg", "c" * 64 + ".jpg", "d" * 64 + ".jpg"}
    with world.store.read() as q:
        assert q.photo_names_shown(names) == names - {"d" * 64 + ".jpg"}
    world.show_photo(one, "d" * 64 + ".jpg", "c" * 64 + ".jpg")
    with world.store.read() as q:
        assert q.photo_names_shown(names) == names - {"b" * 64 + ".jpg"}


# --- merchants, auth, rules, audit, erasure, outage, breaker, activity --------------------------


# --- subscribers, followers, retention, reservations --------------------------------------------


# --- figures, maps, funnel, scheduler -----------------------------------------------------------


CHECKS = [check for name, check in sorted(globals().items()) if name.startswith("check_")]
