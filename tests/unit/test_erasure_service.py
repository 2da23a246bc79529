"""ErasureService on the in-memory store: a merchant's personal data erased once, its live offers
withdrawn as a suspension would, the rest kept for the figures, and the pictures no other offer
shows no longer served, without a database."""
from datetime import timedelta

import pytest

from dealsvc.adapters.media_store import LocalMediaStore
from dealsvc.domain.audit import Action, Actor, ActorKind
from dealsvc.domain.errors import NotFound, Unauthorized
from dealsvc.services.audit import AuditService
from dealsvc.services.auth import MERCHANT, AuthService
from dealsvc.services.erasure import ERASED_NAME, ErasureService, erased_email
from dealsvc.services.merchants import MerchantService
from dealsvc.services.rules import RulesService
from tests.support.api import ADMIN_TOKEN
from tests.support.fakes import T0, Clock, MemoryStore

OPERATOR = Actor(ActorKind.CONSOLE, "a1b2c3d4e5f6")
PHOTO, THUMBNAIL, SHARED = ("a" * 64 + ".jpg", "b" * 64 + ".jpg", "c" * 64 + ".jpg")


@pytest.fixture
def world(tmp_path):
    store, clock, media = MemoryStore(), Clock(), LocalMediaStore(tmp_path)
    merchants = MerchantService(store, clock, RulesService(store, clock))
    baker, dairy = merchants.register("Mario Rossi", "mario@shop.example"), merchants.register("Latteria", "l@shop.example")
    store.add_shop("shp_1", "Forno di Mario Rossi", merchant_id=baker["id"], address="Via Roma 1")
    store.add_shop("shp_2", "Chiosco di Mario", merchant_id=baker["id"], address="Piazza Duomo")
    store.add_shop("shp_3", "Latteria Bianchi", merchant_id=dairy["id"], address="Via Po 2")
    live = store.add_offer("off_live", "shp_1", T0, description="Chiedete di Mario", photo=PHOTO, thumbnail=THUMBNAIL)
    store.add_offer("off_sold", "shp_2", T0, status="sold_out", quantity_left=0, photo=SHARED, thumbnail=SHARED)
    store.add_offer("off_over", "shp_2", T0 - timedelta(hours=3))  # past its time
    store.add_offer("off_theirs", "shp_3", T0, photo=SHARED, thumbnail=SHARED)
    for name in (PHOTO, THUMBNAIL, SHARED):
        media.put(name, b"jpeg")
    hold = store.add_hold("off_live", store.add_subscriber("sub_1"), T0, quantity=2)
    auth = AuthService(store, ADMIN_TOKEN, clock)
    auth.open_session(MERCHANT, baker["id"])
    erasure = ErasureService(store, clock, media)
    return erasure, store, media, auth, baker, live, hold


def test_erasing_withdraws_the_live_offers_and_leaves_nothing_of_the_person(world):
    erasure, store, media, auth, baker, live, hold = world
    answer = erasure.erase_merchant(baker["id"], OPERATOR)
    assert answer == {"id": baker["id"], "status": "suspended", "erased_at": T0, "shops": 2, "offers": 3,
                      "offers_withdrawn": 2}
    m = store.tables.merchants[baker["id"]]
    assert (m.name, m.email) == (ERASED_NAME, erased_email(baker["id"]))
    with pytest.raises(Unauthorized):
        auth.authenticate(baker["api_key"])
    assert store.tables.web_sessions == {}
    assert [(s.name, s.address) for s in store.tables.shops.values()] == [
        (ERASED_NAME, None), (ERASED_NAME, None), ("Latteria Bianchi", "Via Po 2")]
    assert (live.status, live.description, live.photo, live.thumbnail, live.price_cents) == ("cancelled", None, None, None, 200)
    assert (store.tables.reservations[hold].status, live.quantity_left) == ("released", 5)
    assert [o.status for o in store.tables.offers.values()] == ["cancelled", "cancelled", "active", "active"]
    assert [f.kind for f in store.tables.fanouts if f.offer_id == "off_live"] == ["offer", "withdraw"]
    assert [media.get(name) for name in (PHOTO, THUMBNAIL, SHARED)] == [None, None, b"jpeg"]  # another's offer shows it

    entry = AuditService(store, Clock()).latest()["items"]
    assert [(e["action"], e["target"]) for e in entry] == [(Action.MERCHANT_ERASED, baker["id"])]


def test_erasing_again_changes_nothing_and_answers_the_same(world):
    erasure, store, _, _, baker, _, _ = world
    first = erasure.erase_merchant(baker["id"], OPERATOR)
    store.tables.shops["shp_1"].name = "Forno Nuovo"  # renamed since (a shop can be)
    assert erasure.erase_merchant(baker["id"], OPERATOR) == {**first, "offers_withdrawn": 0}
    assert store.tables.shops["shp_1"].name == "Forno Nuovo" and len(store.tables.audit_entries) == 1
    with pytest.raises(NotFound):
        erasure.erase_merchant("mer_nobody", OPERATOR)


def test_erasing_forgets_the_geocoders_answers_for_the_shops_addresses_another_shop_has_not(world):
    from tests.support.fakes import Row
    from dealsvc.domain.text import address_key

    erasure, store, _, _, baker, _, _ = world
    store.add_shop("shp_4", "Bar Verdi", merchant_id="mer_other", address="piazza duomo")  # another's, the same address
    for address in ("Via Roma 1", "Piazza Duomo", "Via Po 2", "Via Dante 3"):
        store.tables.geocode_cache[address_key(address)] = Row(query=address_key(address), found=True, lat=45.46,
                                                               lon=9.19, display_name=address, created_at=T0)
    erasure.erase_merchant(baker["id"], OPERATOR)
    assert sorted(store.tables.geocode_cache) == ["piazza duomo", "via dante 3", "via po 2"]
