"""OfferService on the in-memory store: posting once per Idempotency-Key, by a merchant in good
standing at its own shop; the deals near a point without the shop index; what became of an
offer's pushes and holds; an offer changed by its own merchant only, without a database."""
from datetime import timedelta

import pytest

from dealsvc.domain.errors import Forbidden, NotFound
from dealsvc.domain.merchants import SUSPENDED
from dealsvc.services.auth import Principal
from dealsvc.services.offers import OfferService
from dealsvc.services.rules import RulesService
from tests.support.fakes import T0, Clock, MemoryStore

M = timedelta(minutes=1)


@pytest.fixture
def world():
    store, clock = MemoryStore(), Clock()
    baker, dairy = Principal("merchant", "mer_forno"), Principal("merchant", "mer_latte")
    for merchant in (baker, dairy):
        store.add_merchant(merchant.id)
    store.add_shop("shp_bakery", merchant_id=baker.id, lat=45.4642, lon=9.19)
    store.add_shop("shp_dairy", "Latteria Bianchi", merchant_id=dairy.id, lat=45.4660, lon=9.19)  # 200 m north
    return OfferService(store, clock, RulesService(store, clock), b"figures"), store, clock, baker, dairy


def posting(shop_id: str = "shp_bakery", **changes) -> dict:
    return {"shop_id": shop_id, "title": "Pane di ieri", "category": "bakery", "original_price_cents": 400,
            "discount_pct": 50, "quantity": 5, "expires_at": T0 + 120 * M, **changes}


def test_an_offer_is_posted_once_per_key_with_its_first_wave_by_its_shops_merchant(world):
    offers, store, _, baker, dairy = world
    posted = offers.create(baker, posting(), idempotency_key="k1")
    assert (posted["status"], posted["price_cents"], posted["quantity_left"], posted["expires_at"]) == ("active", 200, 5, T0 + 120 * M)
    assert offers.create(baker, posting(), idempotency_key="k1") == posted  # a retry: the first answer
    assert list(store.tables.offers) == [posted["id"]]
    assert [(f.offer_id, f.kind, f.seq) for f in store.tables.fanouts] == [(posted["id"], "offer", 1)]
    with pytest.raises(NotFound):
        offers.create(dairy, posting())  # not its shop
    store.tables.merchants[dairy.id].status = SUSPENDED
    with pytest.raises(Forbidden):
        offers.create(dairy, posting("shp_dairy"))
    assert list(store.tables.offers) == [posted["id"]] and offers.get(posted["id"])["title"] == "Pane di ieri"


def test_the_deals_near_a_point_are_the_live_ones_in_reach_nearest_first(world):
    offers, store, _, _, _ = world
    store.add_offer("off_bread", "shp_bakery", T0 - 5 * M, first_wave=False)
    store.add_offer("off_milk", "shp_dairy", T0 - 5 * M, category="dairy", first_wave=False)
    store.add_offer("off_soon", "shp_dairy", T0 - 5 * M, category="dairy", expires_at=T0 + 30 * M, first_wave=False)
    store.add_offer("off_over", "shp_bakery", T0 - 3 * 60 * M, first_wave=False)  # past its time
    store.add_offer("off_gone", "shp_bakery", T0 - 5 * M, status="cancelled", first_wave=False)
    at_dairy = (45.4661, 9.19)
    assert [d["id"] for d in offers.deals_near(*at_dairy, 1000, None, 10)] == ["off_soon", "off_milk", "off_bread"]
    assert [d["id"] for d in offers.deals_near(*at_dairy, 100, None, 10)] == ["off_soon", "off_milk"]  # the bakery is too far
    assert [d["id"] for d in offers.deals_near(*at_dairy, 1000, "bakery", 10)] == ["off_bread"]
    assert [d["id"] for d in offers.deals_near(*at_dairy, 1000, None, 1)] == ["off_soon"]
    assert offers.deals_near(*at_dairy, 1000, None, 10)[0]["shop"]["name"] == "Latteria Bianchi"


def test_an_offers_counts_say_what_became_of_its_alerts_and_holds(world):
    offers, store, _, baker, dairy = world
    store.add_offer("off_1", "shp_bakery", T0)
    pks = [store.add_subscriber(f"sub_{n}") for n in range(6)]
    store.add_push("off_1", pks[0])
    store.add_push("off_1", pks[0], kind="price-1")
    store.add_push("off_1", pks[1], status="sending")
    store.add_push("off_1", pks[2], status="pending")
    store.add_push("off_1", pks[3], status="failed")
    store.add_push("off_1", pks[4], kind="withdraw")
    store.tables.notifications[1].opened_at = T0
    store.add_hold("off_1", pks[0], T0, quantity=2)
    store.tables.reservations[store.add_hold("off_1", pks[1], T0)].status = "collected"
    store.add_hold("off_1", pks[2], T0 - 40 * M)  # past its time, not yet written down
    assert offers.counts("off_1") == {"matched": 4, "sent": 1, "failed": 1, "suppressed": 0, "opened": 1, "dropped": 0,
                                      "pending": 2, "price_drops": 1, "reserved": 2, "collected": 1}
    assert offers.stats(baker, "off_1")["reserved"] == 2
    with pytest.raises(NotFound):
        offers.stats(dairy, "off_1")


def test_an_offer_is_listed_and_changed_by_its_own_merchant_only(world):
    offers, store, _, baker, dairy = world
    store.add_offer("off_1", "shp_bakery", T0 - 5 * M)
    store.add_offer("off_2", "shp_bakery", T0)
    assert [o["id"] for o in offers.list_for_shop(baker, "shp_bakery")] == ["off_2", "off_1"]
    with pytest.raises(NotFound):
        offers.list_for_shop(dairy, "shp_bakery")
    with pytest.raises(NotFound):
        offers.update(dairy, "off_1", {"status": "cancelled"})
    assert offers.get("off_1")["status"] == "active"
    assert offers.update(baker, "off_1", {"status": "cancelled"})["status"] == "cancelled"
    assert [offers.get(o)["status"] for o in ("off_1", "off_2")] == ["cancelled", "active"]
