"""The push pipeline end to end: offer -> outbox -> dispatcher -> firebase-admin over HTTP ->
the FCM emulator on 127.0.0.1, on SQLite and PostgreSQL."""
from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

import pytest
from firebase_admin import exceptions

from dealsvc.adapters.db.models import Fanout
from dealsvc.adapters.push import DEAD_LETTER, DEAD_TOKEN, classify
from tests.fakes.fcm_emulator import PROJECT_ID

from tests.support.push import env, merchant_with_shop, post_offer, subscriber


def test_residents_in_range_and_interested_get_exactly_one_push(env):
    key, shop = merchant_with_shop(env)
    subscriber(env, "tok-near", radius_m=500)  # 200 m away
    subscriber(env, "tok-far", lat=45.4912, radius_m=1000)  # 3 km away
    subscriber(env, "tok-dairy-only", radius_m=1000, categories=["dairy"])
    subscriber(env, "tok-bakery", radius_m=1000, categories=["bakery", "dairy"])
    offer = post_offer(env, key, shop)
    env.drain()

    assert len(env.received("tok-near")) == 1
    assert len(env.received("tok-bakery")) == 1
    assert env.received("tok-far") == []
    assert env.received("tok-dairy-only") == []

    message = env.received("tok-near")[0]
    data = message["data"]
    assert data["offer_id"] == offer["id"]
    assert data["shop_id"] == shop["id"]
    assert data["title"] == "Pane di ieri"
    assert data["price_cents"] == "200" and data["discount_pct"] == "50"
    assert data["expires_at"] == offer["expires_at"]
    assert all(isinstance(v, str) for v in data.values())
    expires = datetime.fromisoformat(offer["expires_at"].replace("Z", "+00:00"))
    seconds_left = (expires - env.clock.now).total_seconds()
    ttl = float(message["android"]["ttl"].rstrip("s"))
    assert 0 < ttl <= seconds_left
    assert message["android"]["collapse_key"] == f"offer-{offer['id']}"
    assert message["apns"]["headers"]["apns-collapse-id"] == f"offer-{offer['id']}"
    assert message["apns"]["headers"]["apns-expiration"] == str(math.floor(expires.timestamp()))
    assert message["notification"]["title"] == "-50% Pane di ieri at Forno Rossi"
    assert "200 m away" in message["notification"]["body"]

    # Running again, or a second fan-out of the same offer, sends nothing more.
    with env.container.db.write() as s:
        s.add(Fanout(offer_id=offer["id"], kind="offer", due_at=env.clock.now, created_at=env.clock.now))
    env.drain()
    assert len(env.received("tok-near")) == 1
    notes = env.notifications(offer["id"])
    assert len(notes) == 2 and all(n.status == "sent" for n in notes)
    assert all(n.fcm_message_id.startswith(f"projects/{PROJECT_ID}/messages/") for n in notes)
    assert env.stats(key, offer["id"])["sent"] == 2 and env.stats(key, offer["id"])["matched"] == 2


def test_operator_max_radius_caps_the_residents_radius(env):
    key, shop = merchant_with_shop(env)
    subscriber(env, "tok-wide", lat=45.4912, radius_m=4000)  # 3 km away, radius 4 km
    env.api.rules(max_radius_m=2000, default_radius_m=1000)
    post_offer(env, key, shop)
    env.drain()
    assert env.received("tok-wide") == []


@pytest.mark.parametrize("token", ["unregistered-1", "invalid-1", "mismatch-1"])
def test_dead_tokens_deactivate_the_subscriber_at_once(env, token, caplog):
    key, shop = merchant_with_shop(env)
    dead = subscriber(env, token)
    alive = subscriber(env, "tok-alive")
    caplog.set_level(logging.DEBUG)
    offer = post_offer(env, key, shop)
    env.drain()

    assert env.subscriber_active(dead["id"]) is False
    assert env.subscriber_active(alive["id"]) is True
    assert env.emulator.store.attempts(token) == 1
    stats = env.stats(key, offer["id"])
    assert stats["failed"] == 1 and stats["sent"] == 1

    # Never tried again: the next offer does not even match them.
    second = post_offer(env, key, shop, title="Focaccia")
    env.drain()
    assert env.emulator.store.attempts(token) == 1
    assert env.stats(key, second["id"])["matched"] == 1
    # FCM tokens never appear in logs.
    assert token not in caplog.text


def test_quota_exceeded_is_retried_after_retry_after_then_sent(env):
    key, shop = merchant_with_shop(env)
    subscriber(env, "quota-1")
    env.emulator.store.set_fault("quota-1", "quota", times=1, retry_after=30)
    offer = post_offer(env, key, shop)
    env.drain()
    [n] = env.notifications(offer["id"])
    assert (n.status, n.reason) == ("pending", "QuotaExceededError")
    assert n.due_at >= env.clock.now + timedelta(seconds=30)  # honours Retry-After
    assert env.received("quota-1") == []

    env.clock.advance(seconds=29)
    env.drain()
    assert env.received("quota-1") == []  # not before its time

    env.clock.advance(seconds=600)
    env.drain()
    assert len(env.received("quota-1")) == 1
    assert env.notifications(offer["id"])[0].status == "sent"


def test_unavailable_is_retried_by_the_outbox_with_backoff(env):
    key, shop = merchant_with_shop(env)
    subscriber(env, "unavailable-once-1")
    offer = post_offer(env, key, shop)
    env.drain()
    # The dispatcher never sleeps on a failure: the push waits in the outbox instead.
    [n] = env.notifications(offer["id"])
    assert n.status == "pending" and n.reason == "UnavailableError"
    # Full jitter: anywhere below the first step (2 s).
    assert env.clock.now <= n.due_at <= env.clock.now + timedelta(seconds=2)
    env.clock.advance(seconds=5)
    env.drain()
    assert len(env.received("unavailable-once-1")) == 1
    assert env.emulator.store.attempts("unavailable-once-1") == 2
    assert env.notifications(offer["id"])[0].status == "sent"


def test_a_failing_push_is_retried_for_as_long_as_its_offer_lives_then_dropped(env):
    key, shop = merchant_with_shop(env)
    subscriber(env, "quota-forever")
    env.emulator.store.set_fault("quota-forever", "quota", retry_after=1)
    offer = post_offer(env, key, shop)  # 2 hours
    for _ in range(7):  # 105 minutes: no attempt cap ends it while the offer lives
        env.drain()
        env.clock.advance(minutes=15)  # the backoff's ceiling (900 s)
    [n] = env.notifications(offer["id"])
    assert n.status == "pending" and n.reason == "QuotaExceededError"
    assert env.emulator.store.attempts("quota-forever") == 7
    env.clock.advance(minutes=20)  # the offer has ended
    env.drain()
    [n] = env.notifications(offer["id"])
    assert (n.status, n.reason) == ("dropped", "offer_expired")
    assert env.emulator.store.attempts("quota-forever") == 7
    assert env.stats(key, offer["id"])["dropped"] == 1


def test_a_bad_request_goes_to_the_dead_letter_and_keeps_the_subscriber(env):
    key, shop = merchant_with_shop(env)
    resident = subscriber(env, "badrequest-1")
    offer = post_offer(env, key, shop)
    env.drain()
    [n] = env.notifications(offer["id"])
    assert (n.status, n.reason) == ("failed", "dead_letter")
    assert env.emulator.store.attempts("badrequest-1") == 1  # never retried
    assert env.subscriber_active(resident["id"]) is True  # the token is not to blame


def test_classification_of_a_bad_request_that_is_not_about_the_token():
    assert classify(exceptions.InvalidArgumentError("Invalid value at 'message.data'")).outcome == DEAD_LETTER
    assert classify(exceptions.InvalidArgumentError("The registration token is not a valid FCM registration token")).outcome == DEAD_TOKEN


def test_pushes_for_an_offer_no_longer_active_are_dropped(env):
    key, shop = merchant_with_shop(env)
    subscriber(env, "tok-1")
    offer = post_offer(env, key, shop)
    env.container.dispatcher.expand_one()  # audience known, nothing sent yet
    r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=env.api.h(key))
    assert r.status_code == 200
    env.drain()
    assert env.received("tok-1") == []
    assert env.stats(key, offer["id"])["dropped"] == 1


def test_quiet_hours_defer_until_they_end_or_suppress_if_the_offer_ends_first(env):
    key, shop = merchant_with_shop(env)
    now_utc = env.clock.now
    start = (now_utc - timedelta(hours=1)).strftime("%H:%M")
    end = (now_utc + timedelta(hours=1)).strftime("%H:%M")
    subscriber(env, "tok-quiet", quiet_hours={"start": start, "end": end}, timezone="UTC")
    long_offer = post_offer(env, key, shop, title="Long", expires_at=(now_utc + timedelta(hours=3)).isoformat())
    short_offer = post_offer(env, key, shop, title="Short", expires_at=(now_utc + timedelta(minutes=30)).isoformat())
    env.drain()
    assert env.received("tok-quiet") == []
    [deferred] = env.notifications(long_offer["id"])
    assert deferred.status == "pending" and deferred.reason == "quiet_hours"
    assert deferred.due_at == (now_utc + timedelta(hours=1)).replace(second=0)
    [suppressed] = env.notifications(short_offer["id"])
    assert suppressed.status == "suppressed"

    env.clock.advance(minutes=61)
    env.drain()
    [message] = env.received("tok-quiet")
    assert message["data"]["offer_id"] == long_offer["id"]


@pytest.mark.parametrize("who", ["resident", "operator"])
def test_daily_caps_count_per_local_day(env, who):
    key, shop = merchant_with_shop(env)
    if who == "resident":
        subscriber(env, "tok-capped", max_per_day=2)
    else:
        env.api.rules(max_notifications_per_day=2)
        subscriber(env, "tok-capped")
    offers = [post_offer(env, key, shop, title=f"Item {i}") for i in range(3)]
    env.drain()
    assert len(env.received("tok-capped")) == 2
    assert sum(env.stats(key, o["id"])["suppressed"] for o in offers) == 1

    env.clock.advance(days=1)
    post_offer(env, key, shop, title="Tomorrow", expires_at=(env.clock.now + timedelta(hours=2)).isoformat())
    env.drain()
    assert len(env.received("tok-capped")) == 3


def test_push_outcomes_are_counted_in_metrics(env):
    key, shop = merchant_with_shop(env)
    subscriber(env, "tok-m")
    subscriber(env, "unregistered-m")
    post_offer(env, key, shop)
    env.drain()
    text = env.api.c.get("/metrics").get_data(as_text=True)
    assert 'dealsvc_push_outcomes_total{outcome="sent"}' in text
    assert 'dealsvc_push_outcomes_total{outcome="dead_token"}' in text
    assert "dealsvc_fanout_match_seconds_count" in text
