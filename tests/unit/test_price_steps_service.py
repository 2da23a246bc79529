"""PriceStepService on the in-memory store: a live offer takes the latest step due, once, with
the push about it promised; ended offers take none."""
from datetime import timedelta

from dealsvc.domain.pricing import PriceStep, steps_from_json, steps_to_json
from dealsvc.services.price_steps import PriceStepService
from tests.support.contracts import T0
from tests.support.fakes import MemoryStore


def _offer_with_steps(store: MemoryStore, offer_id: str, *minutes_and_prices: tuple[int, int]):
    steps = [PriceStep(at=T0 + timedelta(minutes=m), price_cents=p, discount_pct=100 - p / 4) for m, p in minutes_and_prices]
    return store.add_offer(offer_id, "shp_1", T0, price_steps=steps_to_json(steps), next_step_at=steps[0].at)


def _pushes(store: MemoryStore, offer_id: str) -> list[tuple[str, int]]:
    return [(f.kind, f.seq) for f in store.tables.fanouts if f.offer_id == offer_id and f.kind == "price"]


def test_a_step_applies_once_and_promises_its_push():
    store = MemoryStore()
    store.add_shop("shp_1")
    offer = _offer_with_steps(store, "off_1", (10, 180), (40, 160))
    assert PriceStepService(store, lambda: T0 + timedelta(minutes=5)).apply_due() == []
    later = PriceStepService(store, lambda: T0 + timedelta(minutes=12))
    assert later.apply_due() == [("off_1", 1)]
    assert (offer.price_cents, offer.discount_pct, offer.price_step) == (180, 55.0, 1)
    assert offer.next_step_at == T0 + timedelta(minutes=40)
    assert steps_from_json(offer.price_steps)[0].previous_price_cents == 200  # the push says what it was
    assert _pushes(store, "off_1") == [("price", 1)]
    assert later.apply_due() == []  # whoever runs again finds nothing due
    assert _pushes(store, "off_1") == [("price", 1)]


def test_steps_missed_while_nobody_ran_are_passed_over_for_the_latest():
    store = MemoryStore()
    offer = _offer_with_steps(store, "off_1", (10, 180), (40, 160))
    assert PriceStepService(store, lambda: T0 + timedelta(minutes=50)).apply_due() == [("off_1", 2)]
    assert (offer.price_cents, offer.price_step, offer.next_step_at) == (160, 2, None)
    assert steps_from_json(offer.price_steps)[1].previous_price_cents == 200
    assert _pushes(store, "off_1") == [("price", 2)]


def test_an_ended_or_expired_offer_takes_no_step():
    store = MemoryStore()
    withdrawn = _offer_with_steps(store, "off_1", (10, 180))
    withdrawn.status = "cancelled"
    _offer_with_steps(store, "off_2", (10, 180))
    assert PriceStepService(store, lambda: T0 + timedelta(hours=3)).apply_due() == []  # off_2 is past its time
    assert withdrawn.price_cents == 200 and _pushes(store, "off_1") == _pushes(store, "off_2") == []
