"""Residents' data kept no longer than needed, on the test's clock, on SQLite and PostgreSQL:
the retention job wipes departed residents after DEALSVC_RETENTION_DAYS and unlinks old alerts
without changing any figure; tokens the app stopped presenting are not pushed to after 60 days
and dropped after 270."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from dealsvc.adapters.db.models import Favorite, IdempotencyKey, Notification, Subscriber, SubscriberPlace
from dealsvc.domain.retention import Cutoffs
from dealsvc.observability import PUSH_OUTCOMES
from tests.support.api import ADMIN_TOKEN
from tests.support.pages import csrf
from tests.support.push import env, merchant_with_shop, post_offer, subscriber  # noqa: F401, F811 (fixtures among them)

SHOP = (45.4642, 9.1900)
WORK = {"label": "work", "lat": 45.4700, "lon": 9.1950}


def run_job(scheduler, job_id: str) -> None:
    """One of the scheduler's periodic jobs, run now (on the test's clock)."""
    [job] = [job for job in scheduler.jobs if job.id == job_id]
    job.run()


def _resident(env, token: str, **extra) -> dict:
    return env.api.subscriber(lat=45.4660, lon=9.1900, fcm_token=token, places=[WORK], **extra)


def _follow(env, resident: dict, shop_id: str) -> None:
    r = env.api.c.post(f"/api/v1/subscribers/{resident['id']}/favorites", json={"shop_id": shop_id},
                       headers=env.api.h(resident["secret"]))
    assert r.status_code == 201, r.json


def _row(env, subscriber_id: str) -> dict:
    with env.container.db.read() as s:
        sub = s.scalar(select(Subscriber).where(Subscriber.id == subscriber_id))
        return {
            "lat": sub.lat, "lon": sub.lon, "token": sub.fcm_token, "active": sub.active,
            "deactivated_at": sub.deactivated_at, "token_seen_at": sub.token_seen_at,
            "places": s.scalar(select(func.count()).select_from(SubscriberPlace).where(SubscriberPlace.subscriber_pk == sub.pk)),
            "favorites": s.scalar(select(func.count()).select_from(Favorite).where(Favorite.subscriber_pk == sub.pk)),
            "alerts": s.scalar(select(func.count()).select_from(Notification).where(Notification.subscriber_pk == sub.pk)),
        }


def _figures(env, key: str, offer_ids: list[str]) -> dict:
    """Every figure a person reads about past offers: the merchant's stats, the exact counts
    behind them, and the operator's console."""
    merchant = {o: env.merchant_stats(key, o) for o in offer_ids}
    exact = {o: env.container.offers.counts(o) for o in offer_ids}
    return {"merchant": merchant, "exact": exact, "console": _console_figures(env)}


def _console_figures(env) -> dict[str, str]:
    """The figures on the operator's console, as shown."""
    page = env.api.c.get("/admin/").get_data(as_text=True)
    if 'id="fig-residents"' not in page:
        env.api.c.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": csrf(page)})
        page = env.api.c.get("/admin/").get_data(as_text=True)
    found = dict(re.findall(r'<dd id="(fig-[a-z-]+)">([^<]*)</dd>', page))
    assert "fig-residents" in found, page
    return found


def test_departed_residents_lose_their_data_after_the_retention_days_and_figures_stay(env):
    key, shop = merchant_with_shop(env)
    _, other_shop = merchant_with_shop(env)
    old = _resident(env, "unregistered-old")
    _follow(env, old, shop["id"])
    _follow(env, old, other_shop["id"])
    stays = _resident(env, "tok-stays")
    _follow(env, stays, shop["id"])
    first = post_offer(env, key, shop)
    env.drain()  # the old resident's token is dead: deactivated now
    assert _row(env, old["id"])["active"] is False
    assert _row(env, old["id"])["deactivated_at"] == env.clock.now

    env.clock.advance(days=2)
    recent = _resident(env, "unregistered-recent")
    _follow(env, recent, shop["id"])
    second = post_offer(env, key, shop, title="Focaccia")
    env.drain()  # the recent resident is deactivated two days after the old one
    assert _row(env, recent["id"])["active"] is False

    env.clock.advance(days=29, seconds=1)  # old: 31 days gone; recent: 29 days gone
    before = _figures(env, key, [first["id"], second["id"]])
    assert before["exact"][first["id"]]["matched"] == 2 and before["exact"][first["id"]]["failed"] == 1
    run_job(env.container.scheduler, "retention")  # the scheduler's job, on the test's clock

    wiped = _row(env, old["id"])
    assert (wiped["lat"], wiped["lon"], wiped["token"], wiped["places"], wiped["favorites"]) == (0.0, 0.0, "", 0, 0)
    assert wiped["alerts"] == 0  # the old alert is no longer linked to anyone
    kept = _row(env, recent["id"])
    assert (kept["lat"], kept["lon"], kept["token"], kept["places"], kept["favorites"]) == (
        45.4660, 9.1900, "unregistered-recent", 1, 1)
    assert kept["alerts"] == 1  # 29 days old: still linked
    assert _row(env, stays["id"])["places"] == 1  # an active resident keeps everything
    # The wiped resident is gone as if they had left; the recent one can still come back.
    assert env.api.c.get(f"/api/v1/subscribers/{old['id']}", headers=env.api.h(old["secret"])).status_code == 401
    assert env.api.c.get(f"/api/v1/subscribers/{recent['id']}", headers=env.api.h(recent["secret"])).status_code == 200
    # Alerts of the first offer (31 days old) keep no distance and no resident; their counts stay.
    with env.container.db.read() as s:
        old_alerts = s.execute(select(Notification.subscriber_pk, Notification.distance_m)
                               .where(Notification.offer_id == first["id"])).all()
    assert [tuple(a) for a in old_alerts] == [(None, None), (None, None)]
    assert _figures(env, key, [first["id"], second["id"]]) == before

    # A second run finds nothing more to do.
    assert not any(env.container.retention.purge().values())
    # Two days later the recent resident's time is up too.
    env.clock.advance(days=2)
    run_job(env.container.scheduler, "retention")
    assert _row(env, recent["id"])["places"] == 0 and _row(env, recent["id"])["token"] == ""
    assert _figures(env, key, [first["id"], second["id"]]) == before


def test_a_shops_funnel_of_past_offers_is_unchanged_when_old_alerts_lose_their_residents(env):
    key, shop = merchant_with_shop(env)
    near = subscriber(env, "tok-near", lat=45.4650, lon=9.1900)  # about 90 m from the shop
    far = subscriber(env, "tok-far", lat=45.4720, lon=9.1900)  # about 870 m
    offer = post_offer(env, key, shop, quantity=5)
    env.drain()
    with env.container.db.read() as s:
        nid = s.scalar(select(Notification.id).join(Subscriber, Subscriber.pk == Notification.subscriber_pk)
                       .where(Subscriber.id == near["id"], Notification.offer_id == offer["id"]))
    assert env.api.c.post(f"/api/v1/notifications/{nid}/opened", headers=env.api.h(near["secret"])).status_code == 204
    held = env.api.c.post(f"/api/v1/offers/{offer['id']}/reservations", json={"quantity": 1},
                          headers=env.api.h(near["secret"])).json
    r = env.api.c.post(f"/api/v1/reservations/{held['id']}/collect", json={"code": held["code"]}, headers=env.api.h(key))
    assert r.status_code == 200, r.json
    before = env.container.funnel.exact(shop["id"])
    assert before[1].offers[offer["id"]].as_dict() == {"told": 2, "opened": 1, "reserved": 1, "collected": 1}
    assert far["id"] and sum(t.told for t in before[1].rings.values()) == 2

    env.clock.advance(days=31)
    run_job(env.container.scheduler, "retention")
    with env.container.db.read() as s:
        linked = s.scalar(select(func.count()).select_from(Notification).where(
            Notification.offer_id == offer["id"], Notification.subscriber_pk.is_not(None)))
    assert linked == 0  # the alerts no longer say whom they went to, nor how far
    assert env.container.funnel.exact(shop["id"]) == before


def test_retention_days_come_from_the_settings(env, settings):
    from dealsvc.adapters.db.store import Store
    from dealsvc.services.retention import RetentionService

    key, shop = merchant_with_shop(env)
    gone = _resident(env, "unregistered-7")
    post_offer(env, key, shop)
    env.drain()
    env.clock.advance(days=8)
    RetentionService(Store(env.container.db), env.clock, retention_days=30).purge()
    assert _row(env, gone["id"])["places"] == 1
    RetentionService(Store(env.container.db), env.clock, retention_days=7).purge()
    assert _row(env, gone["id"])["places"] == 0


def test_a_token_unseen_for_61_days_is_not_pushed_to_and_counted(env):
    key, shop = merchant_with_shop(env)
    silent = _resident(env, "tok-silent")
    refreshed = _resident(env, "tok-refreshed")
    env.clock.advance(days=30)
    # The app presents its (unchanged) token again: seen now.
    r = env.api.c.patch(f"/api/v1/subscribers/{refreshed['id']}", json={"fcm_token": "tok-refreshed"},
                        headers=env.api.h(refreshed["secret"]))
    assert r.status_code == 200, r.json
    env.clock.advance(days=31)  # silent: 61 days unseen; refreshed: 31
    newcomer = _resident(env, "tok-new")
    stale_before = PUSH_OUTCOMES.labels("token_stale")._value.get()

    offer = post_offer(env, key, shop)
    env.drain()
    assert env.received("tok-silent") == []
    assert len(env.received("tok-refreshed")) == 1 and len(env.received("tok-new")) == 1
    counts = env.container.offers.counts(offer["id"])
    assert (counts["matched"], counts["sent"], counts["dropped"]) == (3, 2, 1)
    [stale] = [n for n in env.notifications(offer["id"]) if n.status == "dropped"]
    assert stale.reason == "token_stale"
    assert PUSH_OUTCOMES.labels("token_stale")._value.get() == stale_before + 1
    assert newcomer["id"] != silent["id"]

    # At 59 days a token still gets its pushes.
    env.clock.advance(days=29)  # refreshed: 60 days unseen
    second = post_offer(env, key, shop, title="Focaccia")
    env.drain()
    assert len(env.received("tok-refreshed")) == 2
    assert env.container.offers.counts(second["id"])["dropped"] == 1  # the silent one again


def test_a_token_unseen_for_270_days_is_dropped_then_its_resident_wiped(env):
    silent = _resident(env, "tok-silent")
    seen = _resident(env, "tok-seen")
    env.clock.advance(days=269)
    assert env.api.c.patch(f"/api/v1/subscribers/{seen['id']}", json={"fcm_token": "tok-seen"},
                           headers=env.api.h(seen["secret"])).status_code == 200
    run_job(env.container.scheduler, "retention")
    assert _row(env, silent["id"])["token"] == "tok-silent"
    env.clock.advance(days=1, seconds=1)
    run_job(env.container.scheduler, "retention")
    dropped = _row(env, silent["id"])
    assert (dropped["token"], dropped["active"], dropped["deactivated_at"]) == ("", False, env.clock.now)
    assert dropped["places"] == 1  # kept through the retention period, like any departure
    assert _row(env, seen["id"])["token"] == "tok-seen"
    env.clock.advance(days=31)
    run_job(env.container.scheduler, "retention")
    assert _row(env, silent["id"])["places"] == 0


def test_expired_idempotency_keys_are_purged(env):
    key, shop = merchant_with_shop(env)
    offer = post_offer(env, key, shop)
    resident = _resident(env, "tok-keys")
    r = env.api.c.post(f"/api/v1/offers/{offer['id']}/reservations", json={"quantity": 1},
                       headers={**env.api.h(resident["secret"]), "Idempotency-Key": "k-1"})
    assert r.status_code == 201, r.json

    def keys() -> int:
        with env.container.db.read() as s:
            return s.scalar(select(func.count()).select_from(IdempotencyKey))

    env.clock.advance(hours=23)
    run_job(env.container.scheduler, "retention")
    assert keys() == 1
    env.clock.advance(hours=1, seconds=1)
    run_job(env.container.scheduler, "retention")
    assert keys() == 0


def test_the_cut_offs():
    from datetime import datetime, timezone

    now = datetime(2026, 12, 6, 12, tzinfo=timezone.utc)
    cut = Cutoffs.at(now, 30)
    assert cut.departed_before == datetime(2026, 11, 6, 12, tzinfo=timezone.utc)
    assert cut.token_dropped_before == now - timedelta(days=270)
    assert cut.quota_day_before == "2026-11-05"


def test_the_operator_console_shows_the_retention_settings(client):
    client.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": csrf(client.get("/admin/").text)})
    page = client.get("/admin/").get_data(as_text=True)
    [line] = re.findall(r'<p id="retention"[^>]*>(.*?)</p>', page, re.S)
    assert "30 days" in line and "60 days" in line and "270 days" in line, line


def test_retention_days_setting():
    import pytest

    from config import Settings, SettingsError

    assert Settings.from_env({}).retention_days == 30
    assert Settings.from_env({"DEALSVC_RETENTION_DAYS": "7"}).retention_days == 7
    for bad in ("0", "-3", "a month"):
        with pytest.raises(SettingsError, match="DEALSVC_RETENTION_DAYS"):
            Settings.from_env({"DEALSVC_RETENTION_DAYS": bad})


def test_the_elected_scheduler_runs_the_retention_job(container, api):
    """The job is wired: a scheduler that takes the lead purges at once (then hourly)."""
    import threading
    import time
    from datetime import datetime, timezone

    from sqlalchemy import update

    gone = api.subscriber(fcm_token="tok-gone", places=[WORK])
    with container.db.write() as s:
        s.execute(update(Subscriber).where(Subscriber.id == gone["id"]).values(
            active=False, deactivated_at=datetime.now(timezone.utc) - timedelta(days=31)))

    def places() -> int:
        with container.db.read() as s:
            return s.scalar(select(func.count()).select_from(SubscriberPlace).join(
                Subscriber, Subscriber.pk == SubscriberPlace.subscriber_pk).where(Subscriber.id == gone["id"]))

    assert places() == 1
    stop = threading.Event()
    runner = threading.Thread(target=container.scheduler.run_forever, args=(stop,), daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while places() and time.monotonic() < deadline:
            stop.wait(0.05)  # polling the database for the job's effect
        assert places() == 0
        aps = container.scheduler._aps
        assert aps is not None and aps.get_job("retention") is not None
    finally:
        stop.set()
        runner.join(timeout=20)
