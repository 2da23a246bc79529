"""FunnelService on the in-memory store: a push's opening is its resident's to report, and a shop's
funnel reaches its merchant per distance ring, every count coarse (domain/funnel.py,
domain/privacy.py), without a database."""
from datetime import timedelta

import pytest

from dealsvc.domain import funnel
from dealsvc.domain.errors import NotFound
from dealsvc.services.auth import Principal
from dealsvc.services.funnel import FunnelService, keep_counted
from tests.support.contracts import T0
from tests.support.fakes import MemoryStore

SECRET = b"figures"
MERCHANT = Principal("merchant", "mer_1")


@pytest.fixture
def world():
    store = MemoryStore()
    store.add_shop("shp_1", merchant_id=MERCHANT.id)
    store.add_offer("off_1", "shp_1", T0, quantity=50, quantity_left=50)  # 18:00 UTC: 19:00 in Rome; enough for every hold
    return FunnelService(store, lambda: T0 + timedelta(hours=1), SECRET), store


def told(store, n: int, metres: float | None, *, opened: int = 0, reserved: int = 0) -> list[int]:
    """n residents told of off_1 at `metres`; the first `opened` opened it, the first `reserved` reserved."""
    pushes = []
    for i in range(n):
        pk = store.add_subscriber(f"sub_{metres}_{i}", lat=45.4642, lon=9.19)
        nid = store.add_push("off_1", pk, T0, distance_m=metres)
        if i < opened:
            store.tables.notifications[nid].opened_at = T0
        if i < reserved:
            store.add_hold("off_1", pk, T0)
        pushes.append(nid)
    return pushes


def test_the_funnel_is_counted_per_ring_and_shown_coarse(world):
    funnel_service, store = world
    told(store, 30, 100, opened=25, reserved=12)
    told(store, 3, 700, opened=3)  # too few to show
    offers, exact = funnel_service.exact("shp_1")
    assert [(o["id"], o["hour"]) for o in offers] == [("off_1", 19)]
    assert exact.rings["0-250"] == funnel.Tally(30, 25, 12, 0)
    assert exact.rings["500-1000"] == funnel.Tally(3, 3, 0, 0)
    shown = funnel_service.for_merchant(MERCHANT, "shp_1")
    rings = {ring["ring"]: ring for ring in shown["rings"]}
    assert list(rings) == [ring.key for ring in funnel.RINGS]
    near = {stage: rings["0-250"][stage] for stage in funnel.STAGES}
    assert near == funnel.coarse({"told": 30, "opened": 25, "reserved": 12, "collected": 0}, SECRET, "shp_1")
    assert near["told"] >= 30 and near["told"] % 10 == 0  # shown, but never exact
    assert {stage: rings["500-1000"][stage] for stage in funnel.STAGES} == dict.fromkeys(funnel.STAGES, 0)
    assert [(h["hour"], h["offers"]) for h in shown["hours"]] == [(19, 1)]  # the merchant's own count: exact


def test_another_merchants_shop_is_not_found(world):
    funnel_service, _ = world
    with pytest.raises(NotFound):
        funnel_service.for_merchant(Principal("merchant", "mer_2"), "shp_1")
    with pytest.raises(NotFound):
        funnel_service.for_merchant(MERCHANT, "shp_nowhere")


def test_only_the_resident_told_reports_an_opening_and_the_first_is_kept(world):
    funnel_service, store = world
    [nid] = told(store, 1, 100)
    store.add_subscriber("sub_other", lat=45.4642, lon=9.19)
    for who, named in (("sub_other", str(nid)), ("sub_100_0", "abc"), ("sub_100_0", str(2**31)), ("sub_100_0", "999")):
        with pytest.raises(NotFound):
            funnel_service.opened(Principal("subscriber", who), named)
    assert store.tables.notifications[nid].opened_at is None
    funnel_service.opened(Principal("subscriber", "sub_100_0"), str(nid))
    funnel_service.clock = lambda: T0 + timedelta(hours=5)
    funnel_service.opened(Principal("subscriber", "sub_100_0"), str(nid))
    assert store.tables.notifications[nid].opened_at == T0 + timedelta(hours=1)
    assert funnel_service.exact("shp_1")[1].rings["0-250"] == funnel.Tally(1, 1, 0, 0)


def test_the_funnel_reads_the_same_once_retention_unlinks_the_alerts(world):
    funnel_service, store = world
    told(store, 20, 300, opened=15, reserved=5)
    before = funnel_service.for_merchant(MERCHANT, "shp_1")
    with store.write() as q:
        assert keep_counted(q, T0 + timedelta(days=1)) == 20
    for push in store.tables.notifications.values():
        push.subscriber_pk = push.distance_m = None
    assert funnel_service.for_merchant(MERCHANT, "shp_1") == before
