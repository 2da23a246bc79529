"""ShopService on the in-memory store: a merchant's shops added under the operator's cap and
while in good standing, listed oldest first, changed by their own merchant only, without a
database."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

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



def rome(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Rome")).astimezone(timezone.utc)


def closed_on_sunday(store, clock, baker, dairy):
    """A Sunday morning in Rome; the baker's shp_1 and the dairy's shp_2, both closed on Sundays:
    now, the next opening, and the hours."""
    sunday, opening = rome("2026-12-06T10:00"), rome("2026-12-07T07:00")
    clock.now = sunday
    hours = "Mo-Sa 07:00-19:30; Su off"
    store.add_shop("shp_1", merchant_id=baker.id, opening_hours=hours)
    store.add_shop("shp_2", merchant_id=dairy.id, opening_hours=hours)
    return sunday, opening, hours

def test_new_hours_bring_the_waves_the_old_ones_held_back_due_now_and_no_other(world):
    shops, _, store, clock, baker, dairy = world
    sunday, opening, hours = closed_on_sunday(store, clock, baker, dairy)
    waves = {  # offer: (shop, ends, status, its pending wave's time)
        "off_held": ("shp_1", rome("2026-12-07T12:00"), "active", opening),
        "off_held_to_its_end": ("shp_1", rome("2026-12-06T18:00"), "active", rome("2026-12-06T18:00")),
        "off_next_wave": ("shp_1", rome("2026-12-07T12:00"), "active", sunday + timedelta(minutes=10)),
        "off_withdrawn": ("shp_1", rome("2026-12-07T12:00"), "cancelled", opening),
        "off_theirs": ("shp_2", rome("2026-12-07T12:00"), "active", opening),
    }
    for offer_id, (shop_id, ends, status, due_at) in waves.items():
        store.add_offer(offer_id, shop_id, sunday - timedelta(hours=1), expires_at=ends, status=status, first_wave=False)
        store.set_waves(offer_id, [("offer", 1, 4, sunday, sunday), ("offer", 2, None, None, due_at)])

    def due() -> dict[str, datetime]:
        return {f.offer_id: f.due_at for f in store.tables.fanouts if f.done_at is None}

    shops.update(baker, "shp_1", {"opening_hours": hours})  # the same hours: nothing moves
    assert due() == {offer_id: wave[3] for offer_id, wave in waves.items()}
    shops.update(baker, "shp_1", {"opening_hours": "Mo-Su 07:00-19:30"})  # open on Sundays now
    assert due() == {**{offer_id: wave[3] for offer_id, wave in waves.items()}, "off_held": sunday,
                     "off_held_to_its_end": sunday}
    assert [f.due_at for f in store.tables.fanouts if f.done_at is not None] == [sunday] * len(waves)


def test_new_hours_bring_the_pushes_waiting_for_the_old_opening_due_now_and_no_other(world):
    shops, _, store, clock, baker, dairy = world
    sunday, opening, hours = closed_on_sunday(store, clock, baker, dairy)
    for offer_id, shop_id, status in [("off_mine", "shp_1", "active"), ("off_withdrawn", "shp_1", "cancelled"),
                                      ("off_theirs", "shp_2", "active")]:
        store.add_offer(offer_id, shop_id, sunday - timedelta(hours=1), expires_at=rome("2026-12-07T12:00"), status=status)
    resident = store.add_subscriber("sub_1")
    price_drop = store.add_push("off_mine", resident, kind="price-1", status="pending")
    waiting = {  # push: why it waits
        price_drop: "shop_closed",
        store.add_push("off_mine", resident, status="pending"): "quiet_hours",
        store.add_push("off_withdrawn", resident, status="pending"): "shop_closed",
        store.add_push("off_theirs", resident, status="pending"): "shop_closed",
    }
    for nid, reason in waiting.items():
        push = store.tables.notifications[nid]
        push.reason, push.due_at, push.pending_due_at = reason, opening, opening

    def due() -> dict[int, tuple]:
        return {n.id: (n.status, n.reason, n.due_at, n.pending_due_at) for n in store.tables.notifications.values()}

    before = due()
    shops.update(baker, "shp_1", {"opening_hours": hours})  # the same hours: nothing moves
    assert due() == before
    shops.update(baker, "shp_1", {"opening_hours": "Mo-Su 07:00-19:30"})  # open on Sundays now
    assert due() == {**before, price_drop: ("pending", "shop_closed", sunday, sunday)}
