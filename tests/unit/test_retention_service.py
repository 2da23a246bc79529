"""RetentionService on the in-memory store: what goes when, and that a second run changes
nothing (domain/retention.py's cut-offs), without a database."""
from datetime import timedelta

from dealsvc.domain import funnel
from dealsvc.domain.retention import IDEMPOTENCY_KEPT, TOKEN_KEPT
from dealsvc.services.retention import RetentionService
from tests.support.fakes import T0, MemoryStore, Row

DAY = timedelta(days=1)


def test_a_purge_drops_what_is_past_its_time_keeps_the_rest_and_runs_again_for_nothing():
    store = MemoryStore()
    now = T0 + 400 * DAY
    store.add_shop("shp_1", lat=45.0, lon=9.0)
    store.add_offer("off_1", "shp_1", T0)
    gone = store.add_subscriber("sub_gone", lat=45.0, lon=9.0, places=[(45.1, 9.1)], active=False)
    lately = store.add_subscriber("sub_lately", lat=45.0, lon=9.0, active=False)
    stale = store.add_subscriber("sub_stale", lat=45.0, lon=9.0)
    here = store.add_subscriber("sub_here", lat=45.0, lon=9.0)
    subs = store.tables.subscribers
    subs["sub_gone"].deactivated_at = now - 31 * DAY  # beyond the 30 days kept
    subs["sub_lately"].deactivated_at = now - 29 * DAY
    subs["sub_stale"].fcm_token, subs["sub_stale"].token_seen_at = "tok-stale", now - TOKEN_KEPT - DAY
    subs["sub_here"].fcm_token, subs["sub_here"].token_seen_at = "tok-here", now - DAY
    with store.write() as q:
        q.add_favorite(gone, "shp_1", T0)
        q.add_favorite(lately, "shp_1", T0)
    old = store.add_push("off_1", here, now - 31 * DAY, distance_m=100)
    waiting = store.add_push("off_1", stale, now - 31 * DAY, status="pending")
    recent = store.add_push("off_1", gone, now - 29 * DAY, distance_m=100)
    with store.write() as q:
        q.keep_idempotency_answer("s", "old", "f" * 64, 201, {}, now - IDEMPOTENCY_KEPT - timedelta(seconds=1))
        q.keep_idempotency_answer("s", "new", "f" * 64, 201, {}, now - IDEMPOTENCY_KEPT + timedelta(seconds=1))
    store.tables.push_quota[(here, "2027-01-01")] = Row(subscriber_pk=here, day="2027-01-01", count=2)
    secret_before = subs["sub_gone"].secret_hash

    purge = RetentionService(store, lambda: now, retention_days=30).purge

    assert purge() == {"tokens_dropped": 1, "residents_wiped": 1, "alerts_unlinked": 1, "idempotency_keys": 1,
                       "quota_days": 1, "web_sessions": 0}
    assert (subs["sub_stale"].fcm_token, subs["sub_stale"].active, subs["sub_stale"].deactivated_at) == ("", False, now)
    assert (subs["sub_here"].fcm_token, subs["sub_here"].active) == ("tok-here", True)
    wiped = subs["sub_gone"]
    assert (wiped.deleted_at, wiped.places, wiped.lat, wiped.categories) == (now, [], 0.0, [])
    assert wiped.secret_hash != secret_before
    assert [pk for pk, _ in store.tables.favorites] == [lately]  # the one who left lately keeps theirs
    assert subs["sub_lately"].deleted_at is None
    pushes = store.tables.notifications
    assert (pushes[old].subscriber_pk, pushes[old].distance_m, pushes[old].kept_ring) == (None, None, funnel.RINGS[0].key)
    assert pushes[waiting].subscriber_pk == stale and pushes[recent].subscriber_pk == gone
    assert [key for _, key in store.tables.idempotency_keys] == ["new"] and store.tables.push_quota == {}

    assert set(purge().values()) == {0}
