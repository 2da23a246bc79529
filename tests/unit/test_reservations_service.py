"""ReservationService on the in-memory store: a hold collected at the counter, let go, and listed,
without a database."""
from datetime import timedelta

import pytest

from dealsvc.domain.errors import Conflict, NotFound, Unprocessable
from dealsvc.services.auth import Principal
from dealsvc.services.reservations import ReservationService
from tests.support.contracts import T0
from tests.support.fakes import Clock, MemoryStore


SHOPKEEPER, RIVAL = Principal("merchant", "mer_1"), Principal("merchant", "mer_2")
ME, NEIGHBOUR = Principal("subscriber", "sub_me"), Principal("subscriber", "sub_neighbour")


@pytest.fixture
def world():
    store, clock = MemoryStore(), Clock()
    store.add_shop("shp_1")
    store.tables.shops["shp_1"].merchant_id = SHOPKEEPER.id
    store.add_offer("off_1", "shp_1", T0, first_wave=False, quantity_left=3)
    pks = {sub: store.add_subscriber(sub) for sub in ("sub_me", "sub_neighbour")}
    with store.write() as q:
        for n, (sub, minutes) in enumerate((("sub_me", 0), ("sub_neighbour", 1), ("sub_me", 2)), start=1):
            q.add_reservation(id=f"res_{n}", offer_id="off_1", subscriber_pk=pks[sub], quantity=1, code=f"ABC23{n}",
                              status="held", created_at=T0 + timedelta(minutes=minutes), updated_at=T0,
                              expires_at=T0 + timedelta(minutes=minutes + 15))
    return ReservationService(store, clock, rules=None), store, clock


def test_the_code_read_out_at_the_counter_collects_the_hold_once(world):
    reservations, store, _ = world
    with pytest.raises(Unprocessable) as wrong:
        reservations.collect(SHOPKEEPER, "res_1", "ABC239")
    assert list(wrong.value.errors) == ["code"]
    assert store.tables.reservations["res_1"].status == "held"
    with pytest.raises(NotFound):
        reservations.collect(RIVAL, "res_1", "ABC231")
    assert reservations.collect(SHOPKEEPER, "res_1", " abc231 ")["status"] == "collected"
    with pytest.raises(Conflict):
        reservations.collect(SHOPKEEPER, "res_1", "ABC231")
    assert reservations.collect_by_code(SHOPKEEPER, "off_1", "abc232")["id"] == "res_2"
    with pytest.raises(Unprocessable):
        reservations.collect_by_code(SHOPKEEPER, "off_1", "ABC232")  # collected already
    with pytest.raises(Unprocessable):
        reservations.collect_by_code(RIVAL, "off_1", "ABC233")


def test_letting_go_gives_the_stock_back_once(world):
    reservations, store, clock = world
    clock.now += timedelta(minutes=5)
    with pytest.raises(NotFound):
        reservations.release(NEIGHBOUR, "res_1")
    released = reservations.release(ME, "res_1")
    assert released["status"] == "released"
    offer = store.tables.offers["off_1"]
    assert (offer.quantity_left, offer.status, offer.updated_at) == (4, "active", clock.now)
    with pytest.raises(Conflict):
        reservations.release(ME, "res_1")
    assert store.tables.offers["off_1"].quantity_left == 4


def test_a_hold_past_its_time_reads_expired_and_cannot_be_collected(world):
    reservations, _, clock = world
    clock.now += timedelta(minutes=16)
    assert reservations.get(ME, "res_1")["status"] == "expired"
    assert reservations.get(ME, "res_3")["status"] == "held"
    with pytest.raises(Conflict):
        reservations.collect(SHOPKEEPER, "res_1", "ABC231")
    with pytest.raises(NotFound):
        reservations.get(NEIGHBOUR, "res_1")


def test_the_lists_show_the_residents_newest_first_and_the_offers_oldest_first(world):
    reservations, _, _ = world
    assert [r["id"] for r in reservations.list_for_subscriber(ME, "sub_me")] == ["res_3", "res_1"]
    assert [r["id"] for r in reservations.list_for_subscriber(ME, "sub_me", limit=1)] == ["res_3"]
    with pytest.raises(NotFound):
        reservations.list_for_subscriber(ME, "sub_neighbour")
    assert [r["id"] for r in reservations.list_for_offer(SHOPKEEPER, "off_1")] == ["res_1", "res_2", "res_3"]
    with pytest.raises(NotFound):
        reservations.list_for_offer(RIVAL, "off_1")
