"""ShopService on the in-memory store: a merchant's shops added under the operator's cap and
while in good standing, listed oldest first, changed by their own merchant only, without a
database."""
from datetime import timedelta

import pytest

from dealsvc.domain.errors import Forbidden, NotFound, RuleViolation
from dealsvc.domain.merchants import SUSPENDED
from dealsvc.services.auth import Principal
from dealsvc.services.rules import RulesService
from dealsvc.services.shops import ShopService
from tests.support.fakes import Clock, MemoryStore


@pytest.fixture
def world():
    store, clock = MemoryStore(), Clock()
    rules = RulesService(store, clock)
    shops = ShopService(store, clock, geocoder=None, rules=rules, zone_at=lambda lat, lon: "Europe/Rome")
    baker, dairy = Principal("merchant", "mer_forno"), Principal("merchant", "mer_latte")
    for merchant in (baker, dairy):
        store.add_merchant(merchant.id)
    return shops, rules, store, clock, baker, dairy


def shop(name: str) -> dict:
    return {"name": name, "category": "bakery", "lat": 45.46, "lon": 9.19, "address": "Via Roma 1"}


def test_shops_are_added_up_to_the_cap_and_listed_oldest_first(world):
    shops, rules, store, clock, baker, dairy = world
    rules.update({"max_shops_per_merchant": 2})
    first = shops.create(baker, shop("Forno Rossi"))
    assert (first["merchant_id"], first["timezone"], first["address"]) == (baker.id, "Europe/Rome", "Via Roma 1")
    clock.now += timedelta(minutes=1)
    second = shops.create(baker, shop("Chiosco Rossi"))
    theirs = shops.create(dairy, shop("Latteria Bianchi"))  # another merchant's count
    with pytest.raises(RuleViolation):
        shops.create(baker, shop("Forno Terzo"))
    assert [s["id"] for s in shops.list_for(baker)] == [first["id"], second["id"]]
    assert len(store.tables.shops) == 3 and shops.get(theirs["id"])["name"] == "Latteria Bianchi"


def test_a_suspended_merchant_adds_no_shop_and_a_shop_is_changed_by_its_merchant_only(world):
    shops, _, store, _, baker, dairy = world
    mine = shops.create(baker, shop("Forno Rossi"))
    with pytest.raises(NotFound):
        shops.update(dairy, mine["id"], {"opening_hours": "Mo-Su 00:00-24:00"})
    assert shops.update(baker, mine["id"], {"opening_hours": "Mo-Sa 07:00-19:00"})["opening_hours"] == "Mo-Sa 07:00-19:00"
    store.tables.merchants[baker.id].status = SUSPENDED
    with pytest.raises(Forbidden):
        shops.create(baker, shop("Chiosco Rossi"))
    assert [s.id for s in store.tables.shops.values()] == [mine["id"]]
