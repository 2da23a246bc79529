"""ExpiryService and an offer's end (services/lifecycle.py) on the in-memory store: what happens
to an offer's pushes, waves and holds when it expires, and when held stock comes back."""
from datetime import timedelta

from dealsvc.services.lifecycle import ExpiryService
from tests.support.contracts import T0
from tests.support.fakes import MemoryStore


def _kinds(store: MemoryStore, offer_id: str) -> list[tuple[str, int]]:
    return [(f.kind, f.seq) for f in store.tables.fanouts if f.offer_id == offer_id]


def test_an_offer_past_its_time_expires_once_with_its_holds_and_waiting_alerts():
    store = MemoryStore()
    offer = store.add_offer("off_1", "shp_1", T0, next_step_at=T0 + timedelta(minutes=30))
    store.add_offer("off_2", "shp_1", T0 + timedelta(hours=1))  # not yet due
    store.add_hold("off_1", quantity=2, expires_at=T0 + timedelta(minutes=15))
    waiting = store.add_push("off_1", status="pending")
    told = store.add_push("off_1", status="sent")
    expiry = ExpiryService(store, lambda: T0 + timedelta(hours=2, seconds=1))
    assert expiry.expire_due() == ["off_1"]
    assert (offer.status, offer.quantity_left, offer.next_step_at) == ("expired", 5, None)  # the held 2 count as left
    assert store.tables.reservations["res_1"].status == "expired"
    alerts = store.tables.notifications
    assert (alerts[waiting].status, alerts[waiting].reason) == ("dropped", "offer_expired")
    assert alerts[told].status == "sent"  # those told get the withdrawal instead
    assert _kinds(store, "off_1") == [("offer", 1), ("withdraw", 1)]
    assert expiry.expire_due() == [] and not expiry.expire_offer("off_1")
    assert _kinds(store, "off_1") == [("offer", 1), ("withdraw", 1)]


def test_a_sold_out_offer_whose_hold_lapses_sells_again_with_a_wave_and_its_dropped_alerts():
    store = MemoryStore()
    offer = store.add_offer("off_1", "shp_1", T0)
    store.add_hold("off_1", quantity=5, expires_at=T0 + timedelta(minutes=15))
    offer.status = "sold_out"
    dropped = store.add_push("off_1", status="dropped")
    store.tables.notifications[dropped].reason = "offer_sold_out"
    for wave in store.tables.fanouts:
        wave.done_at = T0  # the first wave is done
    at = T0 + timedelta(minutes=16)
    assert ExpiryService(store, lambda: at).expire_due_holds() == {"off_1": 5}
    assert (offer.status, offer.quantity_left) == ("active", 5)
    assert _kinds(store, "off_1") == [("offer", 1), ("offer", 2)]
    assert (store.tables.notifications[dropped].status, store.tables.notifications[dropped].due_at) == ("pending", at)
    assert ExpiryService(store, lambda: at).expire_holds("off_1") == 0  # given back once
