"""The contract of the services' queries (dealsvc/services/ports.py): what the SQL of
adapters/db/queries and the in-memory fakes of tests/support/fakes.py must both do. Each check
takes a world: its `store` (the transactions) and the rows a check starts from, made the way its
implementation makes them (the API for SQL, plain rows in memory).

tests/unit/test_store_contracts_memory.py runs every check on the fake; tests/integration/
test_store_contracts.py on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dealsvc.domain import funnel, geo
from dealsvc.domain import offers as offer_rules
from dealsvc.domain import reservations as hold_rules
from dealsvc.domain.reservations import COLLECTED, HELD
from dealsvc.domain.text import address_key
from dealsvc.services.ports import IntegrityConflict

from .fakes import T0, MemoryStore, Row

# Where every world's shop is (erasing a merchant's data removes it).
ADDRESS = "Via Roma 1, Milano"


class MemoryWorld:
    def __init__(self):
        self.store = MemoryStore()
        self._n = 0

    def subscriber(self, *, lat: float = 45.465, lon: float = 9.19, places=()) -> str:
        """A resident at (lat, lon), with extra `places` ((lat, lon) each)."""
        self._n += 1
        subscriber_id = f"sub_{self._n}"
        self.store.add_subscriber(subscriber_id, lat=lat, lon=lon, places=places)
        return subscriber_id

    def delete_subscriber(self, subscriber_id: str) -> None:
        """The resident leaves."""
        sub = self.store.tables.subscribers[subscriber_id]
        sub.active, sub.deleted_at = False, T0

    def shop(self, name: str, *, merchant_id: str | None = None, lat: float = 45.4642, lon: float = 9.19,
             address: str = ADDRESS) -> str:
        """A shop at `address`, (lat, lon), of the merchant (one of world.merchant's; the world's own if none is given)."""
        self._n += 1
        shop_id = f"shp_{self._n}"
        self.store.add_shop(shop_id, name=name, merchant_id=merchant_id or "mer_world", lat=lat, lon=lon, address=address)
        return shop_id

    def geocoded(self, address: str, *, found: bool = True) -> None:
        """The geocoder's answer for the address, cached as the geocoding adapter caches it."""
        self.store.tables.geocode_cache[address_key(address)] = Row(
            query=address_key(address), found=found, lat=45.46 if found else None, lon=9.19 if found else None,
            display_name=address if found else None, created_at=T0)

    def geocoded_keys(self) -> list[str]:
        return sorted(self.store.tables.geocode_cache)

    def merchant(self, name: str) -> str:
        self._n += 1
        merchant_id = f"mer_{self._n}"
        self.store.add_merchant(merchant_id, name)
        return merchant_id

    def offer(self, shop_id: str, *, quantity: int = 5, title: str = "Pane di ieri", description: str | None = None,
              category: str = "bakery", steps_in_min: tuple[int, ...] = ()) -> str:
        """An active offer of the shop, of `quantity`, posted at T0 and a few seconds on (each
        later than the one before) with its first wave due, expiring two hours later, with
        price steps due that many minutes after it was posted."""
        self._n += 1
        offer_id = f"off_{self._n}"
        posted = T0 + timedelta(seconds=self._n)
        steps = [{"at": (posted + timedelta(minutes=m)).isoformat(), "price_cents": 150 - m, "discount_pct": 60.0}
                 for m in steps_in_min]
        self.store.add_offer(offer_id, shop_id, posted, title=title, description=description, category=category,
                             quantity=quantity, quantity_left=quantity, price_steps=steps or None,
                             next_step_at=posted + timedelta(minutes=steps_in_min[0]) if steps_in_min else None)
        return offer_id

    # numbers group's rows (figures, maps, funnel, scheduler)
    def now(self) -> datetime:
        """A time after every row a check made (their times are T0 and a few seconds on)."""
        return T0 + timedelta(hours=1)

    def follow(self, subscriber_id: str, shop_id: str) -> None:
        pk = self.store.tables.subscribers[subscriber_id].pk
        self.store.tables.favorites[(pk, shop_id)] = Row(subscriber_pk=pk, shop_id=shop_id, created_at=T0)

    def push(self, offer_id: str, subscriber_id: str | None = None, *, kind: str = "offer", status: str = "sent",
             distance_m: float | None = None, at: datetime = T0, batch_attempts: int | None = None) -> int:
        """A push to the resident (a new one if none is given) made `at` (and sent then, if it
        was), in a batch tried `batch_attempts` times if given."""
        pk = self.store.tables.subscribers[subscriber_id or self.subscriber()].pk
        return self.store.add_push(offer_id, pk, at, kind=kind, status=status, distance_m=distance_m,
                                   batch_attempts=batch_attempts)

    def hold(self, offer_id: str, subscriber_id: str | None = None, *, quantity: int = 1) -> str:
        """A hold of `quantity` taken by the resident (a new one if none is given), for 30 minutes."""
        subscriber_id = subscriber_id or self.subscriber()
        self._n += 1
        return self.store.add_hold(offer_id, self.store.tables.subscribers[subscriber_id].pk, T0 + timedelta(seconds=self._n),
                                   quantity=quantity)

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

    def set_offer_status(self, offer_id: str, status: str) -> None:
        """As its merchant would: "sold_out" or "cancelled"."""
        self.store.tables.offers[offer_id].status = status

    def quota(self, subscriber_id: str, day: str, count: int) -> None:
        """The resident's pushes counted on `day` (YYYY-MM-DD), as the dispatcher counts them."""
        pk = self.store.tables.subscribers[subscriber_id].pk
        self.store.tables.push_quota[(pk, day)] = Row(subscriber_pk=pk, day=day, count=count)

    def quota_days(self, subscriber_id: str) -> list[str]:
        pk = self.store.tables.subscribers[subscriber_id].pk
        return sorted(day for p, day in self.store.tables.push_quota if p == pk)

    def alert_states(self, offer_id: str) -> dict[int, tuple[str, str | None, int | None]]:
        """(status, reason, batch) of the offer's alerts, by id."""
        return {n.id: (n.status, n.reason, n.batch_id) for n in self.store.tables.notifications.values() if n.offer_id == offer_id}

    def defer(self, push_id: int, reason: str, due_at: datetime, status: str = "pending") -> None:
        """What the dispatcher does to a push that does not go now: pending, due at `due_at`
        (or, status "suppressed", given up)."""
        push = self.store.tables.notifications[push_id]
        push.status, push.reason, push.due_at = status, reason, due_at
        push.pending_due_at = due_at if status == "pending" else None

    def push_times(self, offer_id: str) -> dict[int, tuple[str, str | None, datetime, datetime | None]]:
        """(status, reason, due_at, pending_due_at) of the offer's pushes, by id."""
        return {n.id: (n.status, n.reason, n.due_at, n.pending_due_at)
                for n in self.store.tables.notifications.values() if n.offer_id == offer_id}

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
        self._keys: dict[str, str] = {}  # of world.merchant's merchants

    def subscriber(self, *, lat: float = 45.465, lon: float = 9.19, places=()) -> str:
        extra = [{"label": f"place {n}", "lat": p_lat, "lon": p_lon} for n, (p_lat, p_lon) in enumerate(places)]
        made = self.api.subscriber(lat=lat, lon=lon, **({"places": extra} if extra else {}))
        self._secrets[made["id"]] = made["secret"]
        return made["id"]

    def delete_subscriber(self, subscriber_id: str) -> None:
        r = self.api.c.delete(f"/api/v1/subscribers/{subscriber_id}", headers=self.api.h(self._secrets[subscriber_id]))
        assert r.status_code == 204, r.json

    def shop(self, name: str, *, merchant_id: str | None = None, lat: float = 45.4642, lon: float = 9.19,
             address: str = ADDRESS) -> str:
        key = self._keys[merchant_id] if merchant_id else self._key
        return self.api.shop(key, name=name, lat=lat, lon=lon, address=address)["id"]

    def geocoded(self, address: str, *, found: bool = True) -> None:
        from dealsvc.adapters.db.models import GeocodeCache

        with self.db.write() as s:
            s.add(GeocodeCache(query=address_key(address), found=found, lat=45.46 if found else None,
                               lon=9.19 if found else None, display_name=address if found else None, created_at=T0))

    def geocoded_keys(self) -> list[str]:
        from sqlalchemy import select

        from dealsvc.adapters.db.models import GeocodeCache

        with self.db.read() as s:
            return sorted(s.scalars(select(GeocodeCache.query)))

    def merchant(self, name: str) -> str:
        made = self.api.merchant(name=name)
        self._keys[made["id"]] = made["api_key"]
        return made["id"]


    def offer(self, shop_id: str, *, quantity: int = 5, title: str = "Pane di ieri", description: str | None = None,
              category: str = "bakery", steps_in_min: tuple[int, ...] = ()) -> str:
        """An active offer of `quantity`, posted now (the API's clock), ending in two hours, with
        price steps due that many minutes from now."""
        now = datetime.now(timezone.utc)
        steps = [{"at": (now + timedelta(minutes=m)).isoformat(), "price_cents": 190 - 10 * i} for i, m in enumerate(steps_in_min)]
        made = self.api.offer(self._key_of(shop_id), shop_id, quantity=quantity, title=title, description=description,
                              category=category, beyond_closing=True,
                              expires_at=(now + timedelta(hours=2)).isoformat(), **({"price_steps": steps} if steps else {}))
        return made["id"]

    # numbers group's rows (figures, maps, funnel, scheduler): through the API, but for pushes
    # (only the dispatcher makes them) and retention's unlinking, written as they would.
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def follow(self, subscriber_id: str, shop_id: str) -> None:
        r = self.api.c.post(f"/api/v1/subscribers/{subscriber_id}/favorites", json={"shop_id": shop_id},
                            headers=self.api.h(self._secrets[subscriber_id]))
        assert r.status_code == 201, r.json

    def push(self, offer_id: str, subscriber_id: str | None = None, *, kind: str = "offer", status: str = "sent",
             distance_m: float | None = None, at: datetime = T0, batch_attempts: int | None = None) -> int:
        from dealsvc.adapters.db.models import Notification, PushBatch

        pk = pk_of(self, subscriber_id or self.subscriber())
        with self.db.write() as s:
            batch_id = None
            if batch_attempts is not None:
                batch = PushBatch(attempts=batch_attempts, created_at=at)
                s.add(batch)
                s.flush()
                batch_id = batch.id
            push = Notification(offer_id=offer_id, subscriber_pk=pk, kind=kind, status=status, distance_m=distance_m,
                                due_at=at, created_at=at, sent_at=at if status == "sent" else None, attempts=0,
                                batch_id=batch_id)
            s.add(push)
            s.flush()
            return push.id

    def hold(self, offer_id: str, subscriber_id: str | None = None, *, quantity: int = 1) -> str:
        subscriber_id = subscriber_id or self.subscriber()
        r = self.api.c.post(f"/api/v1/offers/{offer_id}/reservations", json={"quantity": quantity},
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

    def quota(self, subscriber_id: str, day: str, count: int) -> None:
        from dealsvc.adapters.db.models import PushQuota

        pk = pk_of(self, subscriber_id)
        with self.db.write() as s:
            s.add(PushQuota(subscriber_pk=pk, day=day, count=count))

    def quota_days(self, subscriber_id: str) -> list[str]:
        from sqlalchemy import select

        from dealsvc.adapters.db.models import PushQuota

        pk = pk_of(self, subscriber_id)
        with self.db.read() as s:
            return sorted(s.scalars(select(PushQuota.day).where(PushQuota.subscriber_pk == pk)))

    def _key_of(self, shop_id: str) -> str:
        """The API key of the shop's merchant."""
        with self.store.read() as q:
            return self._keys.get(q.shop(shop_id).merchant_id, self._key)

    def set_offer_status(self, offer_id: str, status: str) -> None:
        with self.store.read() as q:
            shop_id = q.offer(offer_id).shop_id
        r = self.api.c.patch(f"/api/v1/offers/{offer_id}", json={"status": status}, headers=self.api.h(self._key_of(shop_id)))
        assert r.status_code == 200, r.json

    def alert_states(self, offer_id: str) -> dict[int, tuple[str, str | None, int | None]]:
        from dealsvc.adapters.db.models import Notification

        with self.db.read() as s:
            return {n.id: (n.status, n.reason, n.batch_id) for n in s.query(Notification).filter_by(offer_id=offer_id)}

    def defer(self, push_id: int, reason: str, due_at: datetime, status: str = "pending") -> None:
        from sqlalchemy import update

        from dealsvc.adapters.db.models import Notification

        with self.db.write() as s:
            s.execute(update(Notification).where(Notification.id == push_id)
                      .values(status=status, reason=reason, due_at=due_at,
                              pending_due_at=due_at if status == "pending" else None))

    def push_times(self, offer_id: str) -> dict[int, tuple[str, str | None, datetime, datetime | None]]:
        from dealsvc.adapters.db.models import Notification

        with self.db.read() as s:
            return {n.id: (n.status, n.reason, n.due_at, n.pending_due_at) for n in s.query(Notification).filter_by(offer_id=offer_id)}

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
    from dealsvc.services.ports import IntegrityConflict

    with world.store.write() as q:
        assert q.idempotency_answer("merchant:m1:create-offer", "k1") is None
        q.keep_idempotency_answer("merchant:m1:create-offer", "k1", "f" * 64, 201, {"id": "off_1", "n": [1, None]}, T0)
    with pytest.raises(IntegrityConflict):
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
    world.hold(kept, quantity=2)
    world.hold(kept)
    world.hold(other)
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
    pending = world.push(offer, status="pending")
    unclaimed = world.push(offer, status="sending", batch_attempts=0)
    claimed = world.push(offer, status="sending", batch_attempts=1)
    sent = world.push(offer, status="sent")
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


def check_a_shops_waves_not_planned_yet_come_with_their_offers_and_take_a_new_time(world):
    bakery, dairy = world.shop("Forno Rossi"), world.shop("Latteria Bianchi")
    bread, rolls, milk = world.offer(bakery), world.offer(bakery), world.offer(dairy)
    opening, later, now = T0 + timedelta(hours=13), T0 + timedelta(hours=1), T0 + timedelta(minutes=5)
    world.waves(bread, [("offer", 1, 3, T0, T0), ("offer", 2, None, None, opening), ("withdraw", 1, None, None, T0)])
    world.waves(rolls, [("offer", 1, None, None, later)])
    world.waves(milk, [("offer", 1, None, None, opening)])  # another shop's
    with world.store.write() as q:
        waiting = q.waiting_waves_of_shop(bakery)
        assert [(o.id, f.seq, f.due_at) for f, o in waiting] == [(bread, 2, opening), (rolls, 1, later)]
        assert [(o.status, o.expires_at > later) for _, o in waiting] == [("active", True)] * 2
        waiting[0][0].due_at = now
    with world.store.write() as q:
        assert [(o.id, f.due_at) for f, o in q.waiting_waves_of_shop(bakery)] == [(bread, now), (rolls, later)]
        assert [(o.id, f.due_at) for f, o in q.waiting_waves_of_shop(dairy)] == [(milk, opening)]
        assert q.waiting_waves_of_shop("shp_nobody") == []
    assert world.fanouts(bread) == [("offer", 1), ("offer", 2), ("withdraw", 1)]


def check_the_pushes_of_live_offers_held_back_or_given_up_for_a_closed_shop_fall_due(world):
    bakery, dairy = world.shop("Forno Rossi"), world.shop("Latteria Bianchi")
    bread, rolls, gone, milk = world.offer(bakery), world.offer(bakery), world.offer(bakery), world.offer(dairy)
    world.set_offer_status(gone, "cancelled")
    now = world.now().replace(microsecond=0)
    opening, soon = now + timedelta(hours=13), now + timedelta(minutes=30)
    pushes = {  # (offer, kind, reason, due_at, status): its push (each to a resident of its own)
        (offer_id, kind, reason, due_at, status): world.push(offer_id, kind=kind, status="pending",
                                                             at=now - timedelta(hours=1))
        for offer_id, kind, reason, due_at, status in [
            (bread, "offer", "shop_closed", opening, "pending"), (bread, "price-1", "shop_closed", opening, "pending"),
            # Given up: the shop would not open before the offer ended.
            (bread, "price-2", "shop_closed", now, "suppressed"),
            (rolls, "offer", "quiet_hours", opening, "pending"), (rolls, "price-1", "shop_closed", now - timedelta(minutes=1), "pending"),
            (rolls, "price-2", "quiet_hours", now, "suppressed"),
            (gone, "offer", "shop_closed", opening, "pending"), (gone, "price-1", "shop_closed", now, "suppressed"),
            (milk, "offer", "shop_closed", opening, "pending")]
    }
    for (_, _, reason, due_at, status), push in pushes.items():
        world.defer(push, reason, due_at, status)
    told = world.push(bread, status="sent", at=now - timedelta(hours=1))
    before = {offer_id: world.push_times(offer_id) for offer_id in (bread, rolls, gone, milk)}
    assert before[bread][told] == ("sent", None, now - timedelta(hours=1), None)

    with world.store.write() as q:  # once the offers ended: none is live
        assert q.redue_pushes_held_for_opening(bakery, now + timedelta(hours=3)) == 0
    with world.store.write() as q:
        assert q.redue_pushes_held_for_opening(bakery, soon) == 3
    after = {offer_id: world.push_times(offer_id) for offer_id in (bread, rolls, gone, milk)}
    brought = {pushes[(bread, "offer", "shop_closed", opening, "pending")],
               pushes[(bread, "price-1", "shop_closed", opening, "pending")],
               pushes[(bread, "price-2", "shop_closed", now, "suppressed")]}
    assert {nid: times for nid, times in after[bread].items() if nid in brought} == {
        nid: ("pending", "shop_closed", soon, soon) for nid in brought}
    assert {**after, bread: {nid: t for nid, t in after[bread].items() if nid not in brought}} == {
        **before, bread: {nid: t for nid, t in before[bread].items() if nid not in brought}}
    with world.store.write() as q:  # due now: nothing left to bring forward
        assert q.redue_pushes_held_for_opening(bakery, soon) == 0
        assert q.redue_pushes_held_for_opening("shp_nowhere", soon) == 0


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


def check_an_offer_is_posted_and_read_by_its_merchant_and_shop(world):
    baker = world.merchant("Forno Rossi")
    bakery, dairy = world.shop("Forno Rossi", merchant_id=baker), world.shop("Latteria Bianchi")
    with world.store.write() as q:
        posted = q.add_offer(
            id="off_posted", shop_id=bakery, title="Focaccia", description=None, category="bakery",
            original_price_cents=400, price_cents=200, discount_pct=50.0, currency="EUR", quantity=5, quantity_left=5,
            expires_at=T0 + timedelta(hours=2), status=offer_rules.ACTIVE, image_url=None, photo=None, thumbnail=None,
            created_at=T0, updated_at=T0, price_steps=None, price_step=0, next_step_at=None)
        assert posted.id == "off_posted"
        q.add_fanout(posted.id, "offer", T0)  # a row naming it, in the same transaction
    newer, theirs = world.offer(bakery), world.offer(dairy)  # posted after T0
    with world.store.write() as q:
        assert [o.id for o in q.offers_of_shop(bakery)] == [newer, "off_posted"]  # the newest first
        assert q.offers_of_shop("shp_nowhere") == []
        mine = q.merchants_offer(baker, "off_posted", lock=True)
        assert (mine.title, mine.price_cents, mine.expires_at, mine.created_at) == ("Focaccia", 200, T0 + timedelta(hours=2), T0)
        assert q.merchants_offer(baker, theirs) is None and q.merchants_offer("mer_nobody", "off_posted") is None
        assert q.merchants_offer(baker, "off_nothing") is None
    assert world.fanouts("off_posted") == [("offer", 1)]


def check_the_live_offers_in_a_box_come_with_their_shops_and_category(world):
    # Far from every other check's shops.
    near, far = world.shop("Forno Rossi", lat=-33.92, lon=18.42), world.shop("Latteria Bianchi", lat=-33.5, lon=18.42)
    bread, milk = world.offer(near), world.offer(near, category="dairy")
    gone, elsewhere = world.offer(near), world.offer(far)
    world.set_offer_status(gone, offer_rules.CANCELLED)
    box = geo.Box(min_lat=-34.0, max_lat=-33.8, min_lon=18.3, max_lon=18.5)
    with world.store.read() as q:
        ends = min(q.offer(o).expires_at for o in (bread, milk))
        now = ends - timedelta(minutes=1)
        found = q.live_offers_in_box(box, now, None)
        assert sorted((o.id, shop.id, shop.name) for o, shop in found) == sorted(
            [(bread, near, "Forno Rossi"), (milk, near, "Forno Rossi")])
        assert [o.id for o, _ in q.live_offers_in_box(box, now, "dairy")] == [milk]
        assert q.live_offers_in_box(box, now + timedelta(hours=3), None) == []


def check_an_offers_pushes_openers_price_drops_and_holds_are_counted(world):
    shop = world.shop("Forno Rossi")
    offer, other = world.offer(shop, quantity=9), world.offer(shop)
    a, b, c, d, e = (world.subscriber() for _ in range(5))
    opened = [world.push(offer, a), world.push(offer, a, kind="price-1"), world.push(offer, e, kind="price-1"),
              world.push(offer, c, kind="withdraw"), world.push(other, b)]
    world.push(offer, b, status="failed")
    world.push(offer, c, status="pending")
    world.push(offer, d, status="dropped")
    world.push(offer, d, kind="price-2", status="failed")
    with world.store.write() as q:
        for nid in opened:
            q.mark_push_opened(nid, T0)
    held, collected = world.hold(offer, a), world.hold(offer, b, quantity=2)
    world.collect(collected)
    world.hold(other, c)
    with world.store.read() as q:
        assert q.offer_push_counts(offer) == {"sent": 1, "failed": 1, "pending": 1, "dropped": 1}  # alerts only
        assert q.offer_openers(offer) == 2  # a (twice) and e; opening a withdrawal is not
        assert q.offer_price_drops_sent(offer) == 2 and q.offer_price_drops_sent(other) == 0
        ends = {r.id: r.expires_at for r in q.reservations_of_offer(offer)}
        assert q.offer_held_quantities(offer, ends[held] - timedelta(minutes=1)) == {"held": 1, "collected": 2}
        assert q.offer_held_quantities(offer, ends[held]) == {"expired": 1, "collected": 2}  # past its time
        assert q.offer_push_counts("off_nothing") == {} and q.offer_held_quantities("off_nothing", T0) == {}


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


def check_a_merchants_live_offers_are_those_still_on_show_in_key_order(world):
    baker = world.merchant("Forno Rossi")
    bakery, kiosk = world.shop("Forno Rossi", merchant_id=baker), world.shop("Chiosco Rossi", merchant_id=baker)
    bread, rolls, cake, buns = world.offer(bakery), world.offer(kiosk), world.offer(bakery), world.offer(kiosk)
    milk = world.offer(world.shop("Latteria Bianchi"))  # another merchant's
    world.set_offer_status(rolls, offer_rules.SOLD_OUT)
    world.set_offer_status(cake, offer_rules.CANCELLED)
    with world.store.read() as q:
        ends = [q.offer(o).expires_at for o in (bread, rolls, buns, milk)]
    with world.store.write() as q:
        assert [o.id for o in q.live_offers_of_merchant(baker, min(ends) - timedelta(minutes=1))] == sorted([bread, rolls, buns])
        assert q.live_offers_of_merchant(baker, max(ends)) == []  # past their time
        assert q.live_offers_of_merchant("mer_nobody", min(ends) - timedelta(minutes=1)) == []


def check_a_merchants_shops_and_offers_lose_their_texts_and_keep_the_rest(world):
    baker = world.merchant("Forno Rossi")
    bakery, kiosk = world.shop("Forno Rossi", merchant_id=baker), world.shop("Chiosco Rossi", merchant_id=baker)
    dairy = world.shop("Latteria Bianchi")  # another merchant's
    bread, rolls = world.offer(bakery, description="Dal forno a legna"), world.offer(kiosk)
    milk = world.offer(dairy, description="Fresco")
    a, b, c, d = ((letter * 64) + ".jpg" for letter in "abcd")
    world.show_photo(bread, a, b)
    world.show_photo(milk, c, d)
    with world.store.read() as q:
        assert sorted(q.shop_ids_of_merchant(baker)) == sorted([bakery, kiosk])
        assert q.shop_ids_of_merchant("mer_nobody") == []
        assert q.pictures_of_shops([bakery, kiosk]) == {a, b} and q.pictures_of_shops([]) == set()
        assert q.count_offers_of_shops([bakery, kiosk]) == 2 and q.count_offers_of_shops([]) == 0
    with world.store.write() as q:
        q.erase_shops_and_offers_texts([bakery, kiosk], "—", T0)
        q.erase_shops_and_offers_texts([], "—", T0)
    with world.store.read() as q:
        assert [(q.shop(s).name, q.shop(s).address, q.shop(s).updated_at) for s in (bakery, kiosk)] == [("—", None, T0)] * 2
        o = q.offer(bread)
        assert (o.description, o.image_url, o.photo, o.thumbnail) == (None, None, None, None)
        assert (o.id, o.shop_id, o.title, o.price_cents, o.quantity) == (bread, bakery, "Pane di ieri", 200, 5)
        assert q.offer(rolls).shop_id == kiosk
        assert q.pictures_of_shops([bakery, kiosk]) == set() and q.count_offers_of_shops([bakery, kiosk]) == 2
        untouched, theirs = q.shop(dairy), q.offer(milk)
        assert (untouched.name, untouched.address) == ("Latteria Bianchi", ADDRESS)
        assert (theirs.description, theirs.photo, theirs.thumbnail) == ("Fresco", c, d)


def check_the_geocoders_answers_for_shops_addresses_go_unless_another_shop_has_the_same(world):
    baker = world.merchant("Forno Rossi")
    torino, duomo = "Via Torino 12, Milano", "Piazza Duomo 1, Milano"
    buenos_aires, po = "Corso Buenos Aires 33, Milano", "Via Po 2, Torino"
    bakery = world.shop("Forno Rossi", merchant_id=baker, address=torino)
    stall = world.shop("Banco Rossi", merchant_id=baker, address="piazza  DUOMO 1, Milano ")  # duomo, as keyed
    kiosk = world.shop("Chiosco Rossi", merchant_id=baker)  # at ADDRESS, as the world's own shops are
    cart = world.shop("Carretto Rossi", merchant_id=baker, address=buenos_aires)
    world.shop("Forno Verdi", address="corso  BUENOS aires 33, milano")  # another merchant's, the same address
    world.shop("Latteria Bianchi")  # another merchant's, at ADDRESS
    for address in (torino, ADDRESS, buenos_aires, po):
        world.geocoded(address)
    world.geocoded(duomo, found=False)  # asked, not found
    every = sorted(address_key(a) for a in (torino, duomo, ADDRESS, buenos_aires, po))
    with world.store.write() as q:
        q.forget_geocoded_addresses([])
        q.forget_geocoded_addresses(["shp_nobody"])
    assert world.geocoded_keys() == every
    with world.store.write() as q:
        q.forget_geocoded_addresses([bakery, stall, kiosk, cart])
    # The merchant's own addresses go; the others are other shops' too, or no shop's.
    assert world.geocoded_keys() == sorted(address_key(a) for a in (ADDRESS, buenos_aires, po))


def check_activity_is_counted_per_hour(world):
    shop = world.shop("Forno Rossi")
    first, second, third = world.offer(shop), world.offer(shop), world.offer(shop)
    world.set_offer_status(second, offer_rules.SOLD_OUT)
    world.set_offer_status(third, offer_rules.CANCELLED)
    residents = [world.subscriber() for _ in range(7)]
    half = timedelta(minutes=30)
    world.push(first, residents[0], at=T0)
    world.push(first, residents[1], at=T0 + 3 * half)
    world.push(second, residents[2], at=T0 + half)
    world.push(first, residents[3], status="failed", at=T0 + half)
    world.push(first, residents[4], status="suppressed", at=T0 - half)
    world.push(first, residents[5], kind="withdraw", at=T0)  # not an alert
    world.push(first, residents[6], status="pending", at=T0)  # not sent yet
    hour = timedelta(hours=1)
    starts = [T0 - hour, T0, T0 + hour]
    with world.store.read() as q:
        assert q.alerts_per_hour_sent(starts) == [0, 2, 1]
        assert q.alerts_per_hour_queued("failed", starts) == [0, 1, 0]
        assert q.alerts_per_hour_queued("suppressed", starts) == [1, 0, 0]
        assert q.alerts_per_hour_queued("pending", starts) == [0, 1, 0]
        assert q.alerts_per_hour_sent([T0 + 2 * hour]) == [0]
        posted = q.offer(first).created_at
        around = [posted - hour, posted, posted + hour]
        assert q.offers_per_hour_posted(around) == [0, 3, 0]
        assert q.offers_per_hour_sold_out(around) == [0, 1, 0]


def check_a_resident_is_found_by_the_hash_of_their_secret_deleted_or_not(world):
    with world.store.write() as q:
        _new_subscriber(q, "sub_kept", "tok-kept")
        _new_subscriber(q, "sub_gone", "tok-gone", deleted_at=T0)
    with world.store.read() as q:
        assert q.subscriber_id_with_secret("hash-sub_kept") == "sub_kept"
        assert q.subscriber_id_with_secret("hash-sub_gone") == "sub_gone"  # its secret is replaced when deleted
        assert q.subscriber_id_with_secret("hash-sub_nobody") is None


def check_a_merchants_shops_are_counted_and_listed_oldest_first(world):
    baker, other = world.merchant("Forno Rossi"), world.merchant("Latteria Bianchi")

    def shop(q, shop_id, merchant_id, minutes):
        at = T0 + timedelta(minutes=minutes)
        return q.add_shop(id=shop_id, merchant_id=merchant_id, name=f"Forno {minutes}", category="bakery", address=None,
                          lat=45.0, lon=9.0, timezone="Europe/Rome", opening_hours="Mo-Sa 07:00-19:00",
                          created_at=at, updated_at=at)

    with world.store.write() as q:
        q.lock_merchant_row(baker)
        assert q.count_shops_of_merchant(baker) == 0 and q.shops_of_merchant(baker) == []
        assert shop(q, "shp_later", baker, 2).id == "shp_later"
        shop(q, "shp_first", baker, 0)
        shop(q, "shp_theirs", other, 1)
    with world.store.read() as q:
        assert [s.id for s in q.shops_of_merchant(baker)] == ["shp_first", "shp_later"]
        assert q.count_shops_of_merchant(baker) == 2 and q.count_shops_of_merchant("mer_nobody") == 0
        s = q.shop("shp_first")
        assert (s.merchant_id, s.name, s.timezone, s.opening_hours, s.created_at) == (
            baker, "Forno 0", "Europe/Rome", "Mo-Sa 07:00-19:00", T0)


# --- subscribers, followers, retention, reservations --------------------------------------------


def _new_subscriber(q, subscriber_id: str, token: str, **columns):
    return q.add_subscriber(**{
        "id": subscriber_id, "secret_hash": "hash-" + subscriber_id, "fcm_token": token, "lat": 45.465, "lon": 9.19,
        "radius_m": 1000, "categories": ["bakery"], "timezone": "Europe/Rome", "active": True,
        "created_at": T0, "updated_at": T0, **columns,
    })


def _place(label: str, **columns) -> dict:
    return {"label": label, "lat": 45.48, "lon": 9.2, "radius_m": 500, "days": 127, "hours_start": None,
            "hours_end": None, **columns}


def check_retention_drops_stale_tokens_finds_departed_residents_and_unlinks_settled_old_alerts(world):
    day, long_ago = timedelta(days=1), T0 - timedelta(days=400)  # before any other check's rows
    with world.store.write() as q:
        _new_subscriber(q, "sub_stale", "tok-stale", token_seen_at=long_ago)
        _new_subscriber(q, "sub_stale_off", "tok-stale-off", token_seen_at=long_ago, active=False, deactivated_at=long_ago)
        _new_subscriber(q, "sub_fresh", "tok-fresh", token_seen_at=T0)
        _new_subscriber(q, "sub_undated", "tok-undated")  # from before tokens were dated
        _new_subscriber(q, "sub_left", "tok-left", active=False, deactivated_at=long_ago + day)
        _new_subscriber(q, "sub_left_first", "tok-left-first", active=False, deactivated_at=long_ago)
        _new_subscriber(q, "sub_left_lately", "tok-left-lately", active=False, deactivated_at=T0)
        _new_subscriber(q, "sub_left_and_gone", "", active=False, deactivated_at=long_ago, deleted_at=long_ago)
    with world.store.write() as q:
        assert q.drop_tokens_unseen_since(long_ago + day, T0) == 2
    with world.store.read() as q:
        token = {s: (sub.fcm_token, sub.token_seen_at, sub.active, sub.deactivated_at, sub.updated_at)
                 for s in ("sub_stale", "sub_stale_off", "sub_fresh") for sub in [q.live_subscriber(s)]}
        assert token == {"sub_stale": ("", None, False, T0, T0),
                         "sub_stale_off": ("", None, False, long_ago, T0),  # first deactivated then
                         "sub_fresh": ("tok-fresh", T0, True, None, T0)}
        assert q.live_subscriber("sub_undated").fcm_token == "tok-undated"
    with world.store.write() as q:
        departed = [sub.id for sub in q.departed_residents(long_ago + 2 * day, 10)]
        assert departed == ["sub_stale_off", "sub_left", "sub_left_first"]  # by key
        assert [sub.id for sub in q.departed_residents(long_ago + 2 * day, 1)] == ["sub_stale_off"]

    offer = world.offer(world.shop("Forno Rossi"))
    told = [world.subscriber() for _ in range(5)]
    world.push(offer, told[0], status="pending", at=long_ago)  # the dispatcher's still
    world.push(offer, told[1], status="sending", at=long_ago)
    world.push(offer, told[2], at=long_ago + 2 * day)  # not old enough
    world.push(offer, told[3], at=long_ago, distance_m=120)
    world.push(offer, told[4], status="failed", at=long_ago)
    pks = [pk_of(world, resident) for resident in told]
    with world.store.write() as q:
        assert q.unlink_old_alerts(long_ago + day) == 2
        assert q.unlink_old_alerts(long_ago + day) == 0
    with world.store.read() as q:
        assert [len(q.alerts_sent_to(pk)) for pk in pks] == [1, 1, 1, 0, 0]
    assert len(world.alert_states(offer)) == 5  # the rows stay


def check_retention_forgets_old_idempotency_answers_quota_days_and_expired_sessions(world):
    me = world.subscriber()
    with world.store.write() as q:
        q.keep_idempotency_answer("retention:old", "k", "f" * 64, 201, {}, T0 - timedelta(hours=25))
        q.keep_idempotency_answer("retention:new", "k", "f" * 64, 201, {}, T0 - timedelta(hours=23))
        q.add_web_session("h-retention-gone", "merchant", "mer_a", T0 - timedelta(days=1), T0 - timedelta(seconds=1))
        q.add_web_session("h-retention-now", "merchant", "mer_a", T0 - timedelta(days=1), T0)
    for day in ("2025-10-30", "2025-10-31", "2025-11-01"):
        world.quota(me, day, 3)
    with world.store.write() as q:
        assert q.delete_idempotency_keys_before(T0 - timedelta(days=1)) == 1
        assert q.delete_quota_days_before("2025-11-01") == 2
        assert q.delete_web_sessions_expired_at(T0) == 1  # expiring at that very moment: kept
    with world.store.read() as q:
        assert q.idempotency_answer("retention:old", "k") is None and q.idempotency_answer("retention:new", "k")
        assert q.web_session("h-retention-gone") is None and q.web_session("h-retention-now")
    assert world.quota_days(me) == ["2025-11-01"]


def check_a_token_registered_again_retires_the_older_subscription(world):
    with world.store.write() as q:
        _new_subscriber(q, "sub_old_phone", "tok-shared")
        _new_subscriber(q, "sub_other_phone", "tok-other")
    with world.store.write() as q:
        _new_subscriber(q, "sub_new_phone", "tok-shared")
        q.deactivate_token_holders("tok-shared", T0 + timedelta(minutes=1), except_pk=q.live_subscriber("sub_new_phone").pk)
    with world.store.read() as q:
        old, other, new = (q.live_subscriber(s) for s in ("sub_old_phone", "sub_other_phone", "sub_new_phone"))
        assert (old.active, old.deactivated_at, old.updated_at) == (False, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1))
        assert (other.active, other.deactivated_at) == (True, None)
        assert (new.active, new.deactivated_at, new.categories, new.timezone) == (True, None, ["bakery"], "Europe/Rome")
    with world.store.write() as q:
        q.deactivate_token_holders("tok-shared", T0 + timedelta(minutes=2))
    with world.store.read() as q:
        assert q.live_subscriber("sub_new_phone").active is False
        assert q.live_subscriber("sub_old_phone").deactivated_at == T0 + timedelta(minutes=1)  # inactive already


def check_places_are_replaced_in_order_and_forgotten_with_the_favourites(world):
    bakery = world.shop("Forno Rossi")
    with world.store.write() as q:
        sub = _new_subscriber(q, "sub_placed", "tok-placed")
        q.replace_places(sub, [_place("work", days=31, hours_start="09:00", hours_end="18:00"), _place("gym")])
    with world.store.write() as q:
        sub = q.live_subscriber("sub_placed", lock=True)
        assert [(p.position, p.label, p.days, p.hours_start) for p in sub.places] == [(1, "work", 31, "09:00"), (2, "gym", 127, None)]
        q.replace_places(sub, [_place("home", radius_m=800)])
        q.add_favorite(sub.pk, bakery, T0)
    with world.store.write() as q:
        sub = q.live_subscriber("sub_placed", lock=True)
        assert [(p.position, p.label, p.radius_m) for p in sub.places] == [(1, "home", 800)]
        assert q.count_favorites(sub.pk) == 1
        q.replace_places(sub, [])
        q.remove_favorites_of(sub.pk)
    with world.store.read() as q:
        sub = q.live_subscriber("sub_placed")
        assert list(sub.places) == [] and q.count_favorites(sub.pk) == 0


def check_a_shops_active_followers_come_with_their_places(world):
    bakery, dairy = world.shop("Forno Rossi"), world.shop("Latteria Bianchi")
    with world.store.write() as q:
        placed = _new_subscriber(q, "sub_placed", "tok-1", lat=45.4, lon=9.1, timezone="Europe/Rome")
        q.replace_places(placed, [_place("work", lat=45.5, lon=9.3, days=31, hours_start="09:00", hours_end="18:00")])
        _new_subscriber(q, "sub_plain", "tok-2", lat=45.6, lon=9.2, timezone="Europe/Paris")
        _new_subscriber(q, "sub_asleep", "tok-3", active=False)
        _new_subscriber(q, "sub_elsewhere", "tok-4")
    with world.store.write() as q:
        pks = {s: q.live_subscriber(s).pk for s in ("sub_placed", "sub_plain", "sub_asleep", "sub_elsewhere")}
        for s in ("sub_placed", "sub_plain", "sub_asleep"):
            q.add_favorite(pks[s], bakery, T0)
        q.add_favorite(pks["sub_elsewhere"], dairy, T0)
    with world.store.read() as q:
        found = {
            row.pk: ((row.lat, row.lon, row.timezone), [(p.lat, p.lon, p.days, p.hours_start, p.hours_end) for p in places])
            for row, places in q.active_followers_with_places(bakery)
        }
        assert found == {
            pks["sub_placed"]: ((45.4, 9.1, "Europe/Rome"), [(45.5, 9.3, 31, "09:00", "18:00")]),
            pks["sub_plain"]: ((45.6, 9.2, "Europe/Paris"), []),
        }
        assert q.active_followers_with_places(world.shop("Nobody's")) == []


def check_stock_is_taken_while_enough_is_left_and_given_back(world):
    offer_id = world.offer(world.shop("Forno Rossi"), quantity=3)
    with world.store.read() as q:
        now = q.offer_locked_fresh(offer_id).expires_at - timedelta(hours=1)
    with world.store.write() as q:
        assert q.take_stock(offer_id, 2, now) is True
        assert q.take_stock(offer_id, 2, now) is False
        offer = q.offer_locked_fresh(offer_id)
        assert (offer.quantity_left, offer.status) == (1, offer_rules.ACTIVE)
        assert q.take_stock(offer_id, 1, offer.expires_at) is False  # over at its end
        assert q.take_stock(offer_id, 1, now) is True
        offer = q.offer_locked_fresh(offer_id)
        assert (offer.quantity_left, offer.status) == (0, offer_rules.SOLD_OUT)
        assert q.take_stock(offer_id, 1, now) is False
        q.return_stock(offer, 2, offer_rules.ACTIVE, now)
        assert (offer.quantity_left, offer.status, offer.updated_at) == (2, offer_rules.ACTIVE, now)
        assert q.take_stock("off_nowhere", 1, now) is False and q.offer_locked_fresh("off_nowhere") is None
    with world.store.read() as q:
        assert q.offer_locked_fresh(offer_id).quantity_left == 2


def check_reservations_are_found_by_their_resident_merchant_and_code(world):
    shop = world.shop("Forno Rossi")
    offer_id, other_offer = world.offer(shop), world.offer(world.shop("Latteria Bianchi"))
    me, them, gone = world.subscriber(), world.subscriber(), world.subscriber()
    with world.store.read() as q:
        now = q.offer_locked_fresh(offer_id).expires_at - timedelta(hours=1)
        merchant = q.shop(shop).merchant_id
        my_pk, their_pk = q.live_subscriber_pk_locked(me), q.live_subscriber_pk_locked(them)
        gone_pk = q.live_subscriber(gone).pk

    def hold(q, n, sub_pk, offer, minutes, status=HELD):
        q.add_reservation(id=f"res_{n}", offer_id=offer, subscriber_pk=sub_pk, quantity=1, code=f"CODE{n}",
                          status=status, created_at=now + timedelta(minutes=minutes), updated_at=now,
                          expires_at=now + timedelta(minutes=minutes + 15))

    with world.store.write() as q:
        hold(q, 1, my_pk, offer_id, 0)
        hold(q, 2, my_pk, offer_id, 2, status=COLLECTED)
        hold(q, 3, my_pk, other_offer, 1)
        hold(q, 4, their_pk, offer_id, 3)
        hold(q, 5, gone_pk, offer_id, 4)
        q.lock_offer_of_reservation("res_1")
    world.delete_subscriber(gone)
    with world.store.read() as q:
        assert q.live_subscriber_pk_locked(gone) is None and q.live_subscriber_pk_locked("sub_nobody") is None
        assert q.count_active_holds(my_pk, now) == 2
        assert q.count_active_holds(my_pk, now + timedelta(minutes=15)) == 1  # res_1's time is over
        mine, offer = q.reservation_of_subscriber(me, "res_1")
        assert (mine.id, mine.code, mine.status, offer.id) == ("res_1", "CODE1", HELD, offer_id)
        assert q.reservation_of_subscriber(them, "res_1") is None and q.reservation_of_subscriber(me, "res_x") is None
        assert q.reservation_of_merchant(merchant, "res_4")[0].id == "res_4"
        assert q.reservation_of_merchant("mer_nobody", "res_4") is None
        assert q.merchant_offer_for_holds(merchant, offer_id).id == offer_id
        assert q.merchant_offer_for_holds("mer_nobody", offer_id) is None
        assert [r.id for r in q.reservations_of_offer(offer_id)] == ["res_1", "res_2", "res_4", "res_5"]
        assert [(r.id, o.id) for r, o in q.latest_reservations_of(me, 2)] == [("res_2", offer_id), ("res_3", other_offer)]
        assert [r.id for r, _ in q.latest_reservations_of(me, 50)] == ["res_2", "res_3", "res_1"]
        assert q.latest_reservations_of(gone, 50) == []
        assert [(r.id, o.id) for r, o in q.reservations_of_subscriber(my_pk)] == [
            ("res_1", offer_id), ("res_3", other_offer), ("res_2", offer_id)]
        assert q.held_reservation_with_code(merchant, offer_id, "CODE4") == "res_4"
        assert q.held_reservation_with_code(merchant, offer_id, "CODE2") is None  # collected
        assert q.held_reservation_with_code(merchant, offer_id, "CODE3") is None  # another offer's
        assert q.held_reservation_with_code("mer_nobody", offer_id, "CODE4") is None

def check_a_reservation_id_taken_twice_is_refused_and_nothing_is_kept(world):
    offer_id, me = world.offer(world.shop("Forno Rossi")), world.subscriber()
    my_pk = pk_of(world, me)
    with world.store.read() as q:
        now = q.offer_locked_fresh(offer_id).expires_at - timedelta(hours=1)
    columns = dict(id="res_twin", offer_id=offer_id, subscriber_pk=my_pk, quantity=1, code="ABC234", status=HELD,
                   created_at=now, updated_at=now, expires_at=now + timedelta(minutes=15))
    with world.store.write() as q:
        q.add_reservation(**columns)
    with pytest.raises(IntegrityConflict):
        with world.store.write() as q:
            assert q.take_stock(offer_id, 1, now)
            q.add_reservation(**{**columns, "code": "ABC235"})
    with world.store.read() as q:
        assert [r.code for r in q.reservations_of_offer(offer_id)] == ["ABC234"]
        assert q.offer_locked_fresh(offer_id).quantity_left == 5


def check_the_pushes_sent_to_a_resident_come_with_their_offer_oldest_first(world):
    bakery, dairy = world.shop("Forno Rossi"), world.shop("Latteria Bianchi")
    bread, milk = world.offer(bakery, title="Pane"), world.offer(dairy, title="Latte")
    me, them = world.subscriber(), world.subscriber()
    later = world.push(bread, me, at=T0 + timedelta(minutes=1))
    first = world.push(milk, me, kind="withdraw", status="pending")
    second = world.push(bread, me, kind="price-1")  # made at the same time: by id
    world.push(bread, them)
    mine, theirs = pk_of(world, me), pk_of(world, them)
    with world.store.read() as q:
        assert [(n.id, n.kind, n.status, title, shop) for n, title, shop in q.alerts_sent_to(mine)] == [
            (first, "withdraw", "pending", "Latte", dairy), (second, "price-1", "sent", "Pane", bakery),
            (later, "offer", "sent", "Pane", bakery)]
        assert len(q.alerts_sent_to(theirs)) == 1 and q.alerts_sent_to(theirs + 1000) == []


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
    home = world.subscriber(lat=45.0, lon=9.0)
    away = world.subscriber(lat=46.0, lon=9.0, places=[(45.01, 9.01), (47.0, 9.0)])
    gone = world.subscriber(lat=45.0, lon=9.0)
    world.delete_subscriber(gone)
    with world.store.read() as q:
        found = sorted(tuple(place) for place in q.active_resident_places_in(44.9, 8.9, 45.1, 9.1))
        assert found == sorted([(pk_of(world, home), 45.0, 9.0), (pk_of(world, away), 45.01, 9.01)])
        assert q.active_resident_places_in(10.0, 10.0, 11.0, 11.0) == []


def check_followers_residents_and_live_offers_are_counted(world):
    shop = world.shop("Forno Rossi", lat=45.0, lon=9.0)
    elsewhere = world.shop("Latteria Bianchi", lat=46.0, lon=9.0)
    kept, left, other = world.subscriber(lat=45.0, lon=9.0), world.subscriber(lat=45.0, lon=9.0), world.subscriber(lat=45.0, lon=9.0)
    world.follow(kept, shop)
    world.follow(left, shop)
    world.follow(other, elsewhere)
    world.delete_subscriber(left)
    bread, focaccia = world.offer(shop, title="Pane"), world.offer(shop, title="Focaccia")
    far = world.offer(elsewhere, title="Latte")
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
    shop = world.shop("Forno Rossi", lat=45.0, lon=9.0)
    offer = world.offer(shop, title="Pane")
    me, other = world.subscriber(lat=45.0, lon=9.0), world.subscriber(lat=45.0, lon=9.0)
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
    shop = world.shop("Forno Rossi", lat=45.0, lon=9.0)
    offer = world.offer(shop, title="Pane")
    me, other = world.subscriber(lat=45.0, lon=9.0), world.subscriber(lat=45.0, lon=9.0)
    mine, theirs = world.hold(offer, me), world.hold(offer, other)
    world.collect(theirs)
    now = world.now()
    with world.store.read() as q:
        assert [(r[0], r[1]) for r in q.hold_expiries()] == [(mine, offer)]
        assert [r[0] for r in q.hold_expiries(now - timedelta(hours=2))] == [mine]
        assert q.hold_expiries(now + timedelta(hours=1)) == []


def check_the_funnel_counts_each_alert_by_ring_and_stage_and_keeps_them_when_unlinked(world):
    shop, other_shop = world.shop("Forno Rossi", lat=45.0, lon=9.0), world.shop("Latteria Bianchi", lat=45.0, lon=9.0)
    offer, elsewhere = world.offer(shop, title="Pane"), world.offer(other_shop, title="Latte")
    near, mid, unknown, far, failed = (world.subscriber(lat=45.0, lon=9.0) for _ in range(5))
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
    shop = world.shop("Forno Rossi", lat=45.0, lon=9.0)
    offer, other = world.offer(shop, title="Pane"), world.offer(shop, title="Focaccia")
    told, failed, suppressed, dead, left = (world.subscriber(lat=45.0, lon=9.0) for _ in range(5))
    world.push(offer, told, distance_m=100)
    world.push(offer, failed, status="failed")
    world.push(offer, suppressed, status="suppressed")
    world.push(offer, dead, kind="withdraw")  # not an alert
    world.deactivate(dead, T0)
    world.delete_subscriber(left)  # unsubscribed: not a dead token
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
