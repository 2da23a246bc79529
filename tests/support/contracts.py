"""The contract of the services' queries (dealsvc/services/ports.py): what the SQL of
adapters/db/queries and the in-memory fakes of tests/support/fakes.py must both do. Each check
takes a world: its `store` (the transactions) and the rows a check starts from, made the way its
implementation makes them (the API for SQL, plain rows in memory).

tests/unit/test_store_contracts_memory.py runs every check on the fake; tests/integration/
test_store_contracts.py on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dealsvc.domain import funnel
from dealsvc.domain import offers as offer_rules
from dealsvc.domain import reservations as hold_rules

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

    # numbers group's rows (figures, maps, funnel, scheduler)
    def now(self) -> datetime:
        """A time after every row a check made (their times are T0 and a few seconds on)."""
        return T0 + timedelta(hours=1)

    def resident(self, lat: float, lon: float, places=()) -> str:
        self._n += 1
        subscriber_id = f"sub_{self._n}"
        self.store.add_resident(subscriber_id, lat, lon, places=places)
        return subscriber_id

    def resident_leaves(self, subscriber_id: str) -> None:
        sub = self.store.tables.subscribers[subscriber_id]
        sub.active, sub.deleted_at = False, T0

    def shop_at(self, name: str, lat: float, lon: float) -> str:
        self._n += 1
        shop_id = f"shp_{self._n}"
        self.store.add_shop_at(shop_id, lat, lon, name=name)
        return shop_id

    def follow(self, subscriber_id: str, shop_id: str) -> None:
        pk = self.store.tables.subscribers[subscriber_id].pk
        self.store.tables.favorites[(pk, shop_id)] = Row(subscriber_pk=pk, shop_id=shop_id, created_at=T0)

    def offer(self, shop_id: str, title: str) -> str:
        self._n += 1
        offer_id = f"off_{self._n}"
        self.store.add_offer(offer_id, shop_id, T0 + timedelta(seconds=self._n), title=title)
        return offer_id

    def push(self, offer_id: str, subscriber_id: str, *, kind: str = "offer", status: str = "sent",
             distance_m: float | None = None) -> int:
        pk = self.store.tables.subscribers[subscriber_id].pk
        return self.store.add_push(offer_id, pk, T0, kind=kind, status=status, distance_m=distance_m)

    def hold(self, offer_id: str, subscriber_id: str) -> str:
        self._n += 1
        return self.store.add_hold(offer_id, self.store.tables.subscribers[subscriber_id].pk, T0 + timedelta(seconds=self._n))

    def collect(self, reservation_id: str) -> None:
        self.store.tables.reservations[reservation_id].status = hold_rules.COLLECTED

    def deactivate(self, subscriber_id: str, at: datetime) -> None:
        """What the dispatcher does to a resident whose token is dead."""
        sub = self.store.tables.subscribers[subscriber_id]
        sub.active, sub.updated_at = False, at

    def waves(self, offer_id: str, waves) -> None:
        self.store.set_waves(offer_id, waves)

    def unlink_alerts(self) -> None:
        """What retention does to old alerts: who and where go."""
        for push in self.store.tables.notifications.values():
            push.subscriber_pk = push.distance_m = None


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

    # numbers group's rows (figures, maps, funnel, scheduler): through the API, but for pushes
    # (only the dispatcher makes them) and retention's unlinking, written as they would.
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def resident(self, lat: float, lon: float, places=()) -> str:
        extra = [{"label": f"place {n}", "lat": p_lat, "lon": p_lon} for n, (p_lat, p_lon) in enumerate(places)]
        made = self.api.subscriber(lat=lat, lon=lon, **({"places": extra} if extra else {}))
        self._secrets[made["id"]] = made["secret"]
        return made["id"]

    def resident_leaves(self, subscriber_id: str) -> None:
        self.delete_subscriber(subscriber_id)

    def shop_at(self, name: str, lat: float, lon: float) -> str:
        return self.api.shop(self._key, name=name, lat=lat, lon=lon)["id"]

    def follow(self, subscriber_id: str, shop_id: str) -> None:
        r = self.api.c.post(f"/api/v1/subscribers/{subscriber_id}/favorites", json={"shop_id": shop_id},
                            headers=self.api.h(self._secrets[subscriber_id]))
        assert r.status_code == 201, r.json

    def offer(self, shop_id: str, title: str) -> str:
        return self.api.offer(self._key, shop_id, title=title)["id"]

    def push(self, offer_id: str, subscriber_id: str, *, kind: str = "offer", status: str = "sent",
             distance_m: float | None = None) -> int:
        from dealsvc.adapters.db.models import Notification

        with self.store.db.write() as s:
            push = Notification(offer_id=offer_id, subscriber_pk=pk_of(self, subscriber_id), kind=kind, status=status,
                                distance_m=distance_m, due_at=T0, created_at=T0, sent_at=T0 if status == "sent" else None,
                                attempts=0)
            s.add(push)
            s.flush()
            return push.id

    def hold(self, offer_id: str, subscriber_id: str) -> str:
        r = self.api.c.post(f"/api/v1/offers/{offer_id}/reservations", json={"quantity": 1},
                            headers=self.api.h(self._secrets[subscriber_id]))
        assert r.status_code == 201, r.json
        self._secrets[r.json["id"]] = r.json["code"]
        return r.json["id"]

    def collect(self, reservation_id: str) -> None:
        r = self.api.c.post(f"/api/v1/reservations/{reservation_id}/collect", json={"code": self._secrets[reservation_id]},
                            headers=self.api.h(self._key))
        assert r.status_code == 200, r.json

    def deactivate(self, subscriber_id: str, at: datetime) -> None:
        from sqlalchemy import update

        from dealsvc.adapters.db.models import Subscriber

        with self.store.db.write() as s:
            s.execute(update(Subscriber).where(Subscriber.id == subscriber_id)
                      .values(active=False, updated_at=at, deactivated_at=at))

    def waves(self, offer_id: str, waves) -> None:
        """The offer's fan-outs, in place of those its posting made: (kind, seq, matched, done_at, due_at) each."""
        from sqlalchemy import delete

        from dealsvc.adapters.db.models import Fanout

        with self.store.db.write() as s:
            s.execute(delete(Fanout).where(Fanout.offer_id == offer_id))
            s.add_all(Fanout(offer_id=offer_id, kind=kind, seq=seq, matched=matched, done_at=done_at, due_at=due_at,
                             created_at=T0) for kind, seq, matched, done_at, due_at in waves)

    def unlink_alerts(self) -> None:
        from sqlalchemy import update

        from dealsvc.adapters.db.models import Notification

        with self.store.db.write() as s:
            s.execute(update(Notification).values(subscriber_pk=None, distance_m=None))


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


def check_the_lease_is_one_holders_until_it_runs_out_or_is_released(world):
    s = timedelta(seconds=1)
    with world.store.write() as q:
        assert q.lease_expiry("contract") is None
        assert q.claim_lease("contract", "a", T0, T0 + 6 * s)
        assert not q.claim_lease("contract", "b", T0 + s, T0 + 7 * s)
        assert q.lease_expiry("contract") == T0 + 6 * s
    with world.store.write() as q:
        assert q.claim_lease("contract", "a", T0 + 2 * s, T0 + 8 * s)  # renewed by its holder
        assert not q.claim_lease("contract", "b", T0 + 8 * s, T0 + 14 * s)  # not yet run out
        assert q.claim_lease("contract", "b", T0 + 9 * s, T0 + 15 * s)
        assert q.lease_expiry("contract") == T0 + 15 * s
    with world.store.write() as q:
        q.release_lease("contract", "a", T0)  # not a's any more: nothing changes
        assert q.lease_expiry("contract") == T0 + 15 * s
        q.release_lease("contract", "b", T0 + 9 * s)
        assert q.claim_lease("contract", "a", T0 + 10 * s, T0 + 16 * s)


def check_the_places_in_a_box_are_those_of_active_residents(world):
    home = world.resident(45.0, 9.0)
    away = world.resident(46.0, 9.0, places=[(45.01, 9.01), (47.0, 9.0)])
    gone = world.resident(45.0, 9.0)
    world.resident_leaves(gone)
    with world.store.read() as q:
        found = sorted(tuple(place) for place in q.active_resident_places_in(44.9, 8.9, 45.1, 9.1))
        assert found == sorted([(pk_of(world, home), 45.0, 9.0), (pk_of(world, away), 45.01, 9.01)])
        assert q.active_resident_places_in(10.0, 10.0, 11.0, 11.0) == []


def check_followers_residents_and_live_offers_are_counted(world):
    shop = world.shop_at("Forno Rossi", 45.0, 9.0)
    elsewhere = world.shop_at("Latteria Bianchi", 46.0, 9.0)
    kept, left, other = world.resident(45.0, 9.0), world.resident(45.0, 9.0), world.resident(45.0, 9.0)
    world.follow(kept, shop)
    world.follow(left, shop)
    world.follow(other, elsewhere)
    world.resident_leaves(left)
    bread, focaccia = world.offer(shop, "Pane"), world.offer(shop, "Focaccia")
    far = world.offer(elsewhere, "Latte")
    now = world.now()
    with world.store.read() as q:
        assert q.count_active_followers(shop) == 1 and q.count_active_followers(elsewhere) == 1
        assert q.count_active_residents() == 2
        assert q.count_live_offers(now) == 3 and q.count_live_offers(now + timedelta(hours=3)) == 0
        shown = q.live_offers_in(44.9, 8.9, 45.1, 9.1, now, 500)
        assert [(o["id"], o["title"], o["shop"], o["lat"], o["lon"]) for o in shown] == [
            (focaccia, "Focaccia", "Forno Rossi", 45.0, 9.0), (bread, "Pane", "Forno Rossi", 45.0, 9.0)]
        assert set(shown[0]) == {"id", "title", "price_cents", "discount_pct", "quantity_left", "expires_at", "shop", "lat", "lon"}
        assert [o["id"] for o in q.live_offers_in(44.9, 8.9, 45.1, 9.1, now, 1)] == [focaccia]
        assert q.live_offers_in(44.9, 8.9, 45.1, 9.1, now + timedelta(hours=3), 500) == []
        posted = q.offers_posted_at_shop(shop)
        assert [(o["id"], o["title"], o["status"]) for o in posted] == [(focaccia, "Focaccia", "active"), (bread, "Pane", "active")]
        assert set(posted[0]) == {"id", "title", "status", "quantity", "created_at", "expires_at"}
        changed = q.offer_expiries_changed_since(now - timedelta(hours=2), [offer_rules.ACTIVE])
        assert {row[0] for row in changed} == {bread, focaccia, far}
        assert q.offer_expiries_changed_since(now - timedelta(hours=2), [offer_rules.SOLD_OUT]) == []
        assert q.offer_expiries_changed_since(now + timedelta(hours=1), [offer_rules.ACTIVE]) == []


def check_a_push_is_its_residents_only_and_its_first_opening_is_kept(world):
    shop = world.shop_at("Forno Rossi", 45.0, 9.0)
    offer = world.offer(shop, "Pane")
    me, other = world.resident(45.0, 9.0), world.resident(45.0, 9.0)
    nid = world.push(offer, me, distance_m=100)
    with world.store.write() as q:
        assert q.push_to_resident(nid, other) is None and q.push_to_resident(nid + 1000, me) is None
        assert q.push_to_resident(nid, me).opened_at is None
        q.mark_push_opened(nid, T0)
    with world.store.write() as q:
        q.mark_push_opened(nid, T0 + timedelta(minutes=1))
    with world.store.read() as q:
        assert q.push_to_resident(nid, me).opened_at == T0


def check_holds_are_listed_with_their_expiry_until_collected(world):
    shop = world.shop_at("Forno Rossi", 45.0, 9.0)
    offer = world.offer(shop, "Pane")
    me, other = world.resident(45.0, 9.0), world.resident(45.0, 9.0)
    mine, theirs = world.hold(offer, me), world.hold(offer, other)
    world.collect(theirs)
    now = world.now()
    with world.store.read() as q:
        assert [(r[0], r[1]) for r in q.hold_expiries()] == [(mine, offer)]
        assert [r[0] for r in q.hold_expiries(now - timedelta(hours=2))] == [mine]
        assert q.hold_expiries(now + timedelta(hours=1)) == []


def check_the_funnel_counts_each_alert_by_ring_and_stage_and_keeps_them_when_unlinked(world):
    shop, other_shop = world.shop_at("Forno Rossi", 45.0, 9.0), world.shop_at("Latteria Bianchi", 45.0, 9.0)
    offer, elsewhere = world.offer(shop, "Pane"), world.offer(other_shop, "Latte")
    near, mid, unknown, far, failed = (world.resident(45.0, 9.0) for _ in range(5))
    opened = world.push(offer, near, distance_m=100)  # opened the alert itself
    world.push(offer, mid, distance_m=300)
    drop = world.push(offer, mid, kind="price-1")  # opened a price drop of it: opened too
    world.push(offer, unknown)  # sent before distances were kept: no ring
    withdrawn = world.push(offer, unknown, kind="withdraw")  # opening a withdrawal earns nothing
    world.push(offer, far, distance_m=5000)
    world.push(offer, failed, distance_m=100, status="failed")  # never told
    world.push(elsewhere, near, distance_m=100)  # another shop's
    world.collect(world.hold(offer, mid))
    world.hold(offer, far)
    with world.store.write() as q:
        for nid in (opened, drop, withdrawn):
            q.mark_push_opened(nid, T0)
    expected = {
        (offer, "0-250"): funnel.Tally(1, 1, 0, 0),
        (offer, "250-500"): funnel.Tally(1, 1, 1, 1),
        (offer, None): funnel.Tally(1, 0, 0, 0),
        (offer, "2000+"): funnel.Tally(1, 0, 1, 0),
    }
    with world.store.read() as q:
        assert {(c.offer_id, c.ring): c.tally for c in q.funnel_counts_of_shop(shop)} == expected
    with world.store.write() as q:
        assert q.keep_funnel_stages_of_alerts_before(T0) == 0  # made at T0: not before it
        assert q.keep_funnel_stages_of_alerts_before(T0 + timedelta(seconds=1)) == 5  # sent alerts only
    world.unlink_alerts()
    with world.store.read() as q:
        assert {(c.offer_id, c.ring): c.tally for c in q.funnel_counts_of_shop(shop)} == expected


def check_the_operators_live_counts_and_the_waves_an_offer_went_out_in(world):
    shop = world.shop_at("Forno Rossi", 45.0, 9.0)
    offer, other = world.offer(shop, "Pane"), world.offer(shop, "Focaccia")
    told, failed, suppressed, dead, left = (world.resident(45.0, 9.0) for _ in range(5))
    world.push(offer, told, distance_m=100)
    world.push(offer, failed, status="failed")
    world.push(offer, suppressed, status="suppressed")
    world.push(offer, dead, kind="withdraw")  # not an alert
    world.deactivate(dead, T0)
    world.resident_leaves(left)  # unsubscribed: not a dead token
    m = timedelta(minutes=1)
    world.waves(offer, [("offer", 2, 3, None, T0 + 2 * m), ("offer", 1, 7, T0, T0), ("withdraw", 1, 9, T0, T0)])
    world.waves(other, [("offer", 1, None, None, T0)])
    with world.store.read() as q:
        assert q.count_offer_pushes_sent_since(T0) == 1 and q.count_offer_pushes_sent_since(T0 + m) == 0
        assert q.offer_pushes_failed_or_suppressed_since(T0) == {"failed": 1, "suppressed": 1}
        assert q.offer_pushes_failed_or_suppressed_since(T0 + m) == {}
        assert q.count_residents_deactivated_since(T0) == 1 and q.count_residents_deactivated_since(T0 + m) == 0
        waves = [(w.offer_id, w.seq, w.matched, w.done_at, w.due_at) for w in q.offer_waves_of([offer, other])]
        assert waves == sorted(waves, key=lambda w: (w[0], w[1]))  # by offer, then wave
        assert set(waves) == {(offer, 1, 7, T0, T0), (offer, 2, 3, None, T0 + 2 * m), (other, 1, None, None, T0)}
        assert q.offer_waves_of([]) == []


CHECKS = [check for name, check in sorted(globals().items()) if name.startswith("check_")]
