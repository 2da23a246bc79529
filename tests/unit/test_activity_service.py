"""ActivityService on the in-memory store: the operator's charts hold the last 24 hours, the last
one under way, each push and offer in the hour it belongs to, without a database."""
from datetime import timedelta

from dealsvc.services.activity import ActivityService, HOURS
from tests.support.fakes import T0, MemoryStore

M, H = timedelta(minutes=1), timedelta(hours=1)


def test_the_last_day_counts_each_push_and_offer_in_its_hour_up_to_the_one_under_way():
    store = MemoryStore()
    store.add_shop("shp_1")
    store.add_offer("off_1", "shp_1", T0 - 30 * M)  # posted in the hour before the last
    sold = store.add_offer("off_2", "shp_1", T0 - 25 * H)  # posted before the day shown...
    sold.status, sold.updated_at = "sold_out", T0 + 5 * M  # ...sold out in the hour under way
    pks = [store.add_subscriber(f"sub_{n}", lat=45.0, lon=9.0) for n in range(5)]
    store.add_push("off_1", pks[0], T0 + 10 * M)  # sent in the hour under way
    store.add_push("off_1", pks[1], T0 - 23 * H + 5 * M)  # in the first hour shown
    store.add_push("off_1", pks[2], T0 - 24 * H + 5 * M)  # an hour too old
    store.add_push("off_1", pks[3], T0 - 90 * M, status="failed")  # by when it was queued
    store.add_push("off_1", pks[4], T0, kind="withdraw")  # not an alert

    day = ActivityService(store, lambda: T0 + 25 * M).last_day()

    assert len(day) == HOURS and [h["start"] for h in (day[0], day[-1])] == [T0 - 23 * H, T0]
    assert [h["start"] - day[0]["start"] for h in day] == [n * H for n in range(HOURS)]
    counted = {(h["start"], name): h[name] for h in day for name in ("sent", "failed", "suppressed", "posted", "sold_out")
               if h[name]}
    assert counted == {(T0 - 23 * H, "sent"): 1, (T0, "sent"): 1, (T0 - 2 * H, "failed"): 1,
                       (T0 - H, "posted"): 1, (T0, "sold_out"): 1}
