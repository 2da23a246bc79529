"""FiguresService on the in-memory store: the operator's live counts and the waves an offer went
out in, without a database."""
from datetime import timedelta

from dealsvc.services.figures import FiguresService
from tests.support.contracts import T0
from tests.support.fakes import MemoryStore

M = timedelta(minutes=1)


def figures(store: MemoryStore, now=T0 + 30 * M) -> FiguresService:
    return FiguresService(store, lambda: now, rules=None, index=None, secret=b"figures")


def test_the_waves_told_are_those_that_told_someone_and_the_next_is_the_first_pending():
    store = MemoryStore()
    store.add_shop("shp_1", lat=45.0, lon=9.0)
    store.add_offer("off_1", "shp_1", T0)
    store.add_offer("off_2", "shp_1", T0, first_wave=False)
    store.set_waves("off_1", [
        ("offer", 1, 7, T0, T0),
        ("offer", 2, 0, T0 + 2 * M, T0 + 2 * M),  # found the offer ended: told nobody
        ("offer", 3, None, None, T0 + 4 * M),
        ("withdraw", 1, 7, T0 + 5 * M, T0 + 5 * M),  # not a wave
    ])
    assert figures(store).waves_told(["off_1", "off_2"]) == {
        "off_1": {"waves": [{"wave": 1, "residents": 7, "at": T0}], "next_wave": 3, "next_at": T0 + 4 * M},
        "off_2": {"waves": [], "next_wave": None, "next_at": None},
    }
    assert figures(store).waves_told([]) == {}


def test_the_live_counts_are_of_the_last_hour():
    store = MemoryStore()
    store.add_shop("shp_1", lat=45.0, lon=9.0)
    store.add_offer("off_live", "shp_1", T0)
    store.add_offer("off_over", "shp_1", T0 - 3 * 60 * M)  # expired an hour before T0
    pks = [store.add_subscriber(f"sub_{n}", lat=45.0, lon=9.0) for n in range(6)]
    store.add_push("off_live", pks[0], T0)
    store.add_push("off_live", pks[1], T0 - 2 * 60 * M)  # sent before the window
    store.add_push("off_live", pks[2], T0, status="failed")
    store.add_push("off_live", pks[3], T0, status="suppressed")
    store.add_push("off_live", pks[3], T0, kind="withdraw")
    dead = store.tables.subscribers["sub_4"]
    dead.active, dead.updated_at = False, T0  # its token reported dead
    gone = store.tables.subscribers["sub_5"]
    gone.active, gone.updated_at, gone.deleted_at = False, T0, T0  # unsubscribed
    assert figures(store).live() == {
        "window_minutes": 60, "active_offers": 1, "sent": 1, "failed": 1, "suppressed": 1,
        "dead_tokens_pruned": 1, "active_residents": 4,
    }
