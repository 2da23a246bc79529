"""Withdrawal through firebase-admin and the FCM emulator: when an offer sells out, is cancelled or
expires, residents already told get a data-only message under the same collapse key; residents
whose push was still pending get nothing at all."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.push import Env, env  # noqa: F401  (env is the fixture used below)

SHOP = (45.4642, 9.1900)
NEAR = (45.4660, 9.1900)  # 200 m from the shop


def reserve(env: Env, secret: str, offer_id: str, quantity: int = 1):
    return env.api.c.post(
        f"/api/v1/offers/{offer_id}/reservations", json={"quantity": quantity}, headers=env.api.h(secret)
    )


def status_of(env: Env, offer_id: str) -> str:
    return env.api.c.get(f"/api/v1/offers/{offer_id}").json["status"]


def listed(env: Env) -> set[str]:
    r = env.api.c.get(f"/api/v1/deals?lat={SHOP[0]}&lon={SHOP[1]}&radius_m=1000")
    assert r.status_code == 200, r.json
    return {item["id"] for item in r.json["items"]}


def end_offer(env: Env, how: str, key: str, offer: dict, buyer_secret: str) -> None:
    if how == "sold_out":
        first = reserve(env, buyer_secret, offer["id"])
        assert first.status_code == 201 and status_of(env, offer["id"]) == "active"
        last = reserve(env, buyer_secret, offer["id"])
        assert last.status_code == 201, last.json
    elif how == "cancelled":
        r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=env.api.h(key))
        assert r.status_code == 200, r.json
    else:
        env.clock.advance(hours=2, seconds=1)
        assert offer["id"] in env.container.expiry.expire_due()
    assert status_of(env, offer["id"]) == how


@pytest.mark.parametrize("how", ["sold_out", "cancelled", "expired"])
def test_told_residents_get_the_withdrawal_and_pending_ones_get_nothing(env, how):
    key = env.api.merchant()["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
    now = env.clock.now
    told = env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token="tok-told")
    env.api.subscriber(
        lat=NEAR[0], lon=NEAR[1], fcm_token="tok-quiet", timezone="UTC",
        quiet_hours={"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": (now + timedelta(hours=1)).strftime("%H:%M")},
    )
    env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token="tok-retrying")
    env.emulator.store.set_fault("tok-retrying", "quota", times=1, retry_after=600)
    offer = env.api.offer(key, shop["id"], quantity=2, expires_at=(now + timedelta(hours=2)).isoformat())
    env.drain()

    [alert] = env.received("tok-told")
    assert alert["data"]["type"] == "offer" and "notification" in alert
    assert env.received("tok-quiet") == [] and env.received("tok-retrying") == []
    pending = {n.reason for n in env.notifications(offer["id"]) if n.status == "pending"}
    assert pending == {"quiet_hours", "QuotaExceededError"}

    end_offer(env, how, key, offer, told["secret"])
    env.drain()

    [again, withdrawal] = env.received("tok-told")
    assert again == alert
    assert withdrawal["data"]["type"] == "withdrawn"
    assert withdrawal["data"]["offer_id"] == offer["id"]
    assert withdrawal["data"]["status"] == how
    assert "notification" not in withdrawal
    collapse = f"offer-{offer['id']}"
    assert alert["android"]["collapse_key"] == withdrawal["android"]["collapse_key"] == collapse
    assert alert["apns"]["headers"]["apns-collapse-id"] == withdrawal["apns"]["headers"]["apns-collapse-id"] == collapse
    assert "alert" not in withdrawal["apns"]["payload"]["aps"]
    assert withdrawal["apns"]["payload"]["aps"]["content-available"] == 1
    assert int(withdrawal["apns"]["headers"]["apns-expiration"]) > env.clock.now.timestamp()

    # Pending pushes were dropped, not delayed: nothing arrives once quiet hours and the
    # retry delay are over, and nothing more reaches the resident who was told.
    assert env.received("tok-quiet") == [] and env.received("tok-retrying") == []
    env.clock.advance(hours=3)
    env.drain()
    assert env.received("tok-quiet") == [] and env.received("tok-retrying") == []
    assert env.emulator.store.attempts("tok-retrying") == 1
    assert len(env.received("tok-told")) == 2
    offer_pushes = {n.subscriber_pk: n for n in env.notifications(offer["id"]) if n.kind == "offer"}
    assert sorted(n.status for n in offer_pushes.values()) == ["dropped", "dropped", "sent"]
    assert {n.reason for n in offer_pushes.values() if n.status == "dropped"} == {f"offer_{how}"}


def test_raising_the_quantity_of_a_sold_out_offer_makes_it_active_again(env):
    key = env.api.merchant()["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
    resident = env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token="tok-resident")
    offer = env.api.offer(key, shop["id"], quantity=1, expires_at=(env.clock.now + timedelta(hours=2)).isoformat())
    env.drain()
    assert reserve(env, resident["secret"], offer["id"]).status_code == 201
    assert status_of(env, offer["id"]) == "sold_out"
    assert offer["id"] not in listed(env)
    assert reserve(env, resident["secret"], offer["id"]).status_code == 409

    r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"quantity": 3}, headers=env.api.h(key))
    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["quantity"], r.json["quantity_left"]) == ("active", 3, 2)
    assert status_of(env, offer["id"]) == "active"
    assert offer["id"] in listed(env)
    assert reserve(env, resident["secret"], offer["id"], quantity=2).status_code == 201
    assert status_of(env, offer["id"]) == "sold_out"

    # Once its time has passed, a sold-out offer stays expired whatever the shop does.
    env.clock.advance(hours=2)
    r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"quantity": 5}, headers=env.api.h(key))
    assert r.status_code == 409, r.json
    assert status_of(env, offer["id"]) == "expired"
    assert offer["id"] not in listed(env)


def test_a_failing_withdrawal_is_retried_for_its_own_ttl_then_dropped(env):
    """No attempt cap: a withdrawal keeps being retried while it is useful (until the offer
    would have expired, and at least an hour after the withdrawal), then it is dropped."""
    key = env.api.merchant()["api_key"]
    shop = env.api.shop(key, lat=SHOP[0], lon=SHOP[1])
    env.api.subscriber(lat=NEAR[0], lon=NEAR[1], fcm_token="tok-gone")
    offer = env.api.offer(key, shop["id"], quantity=2, expires_at=(env.clock.now + timedelta(minutes=30)).isoformat())
    env.drain()
    assert len(env.received("tok-gone")) == 1
    env.emulator.store.set_fault("tok-gone", "unavailable")
    r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=env.api.h(key))
    assert r.status_code == 200, r.json
    for _ in range(3):  # 45 minutes of FCM failing for this phone: past the offer's end, within the hour
        env.drain()
        env.clock.advance(minutes=15)
    [withdrawal] = [n for n in env.notifications(offer["id"]) if n.kind == "withdraw"]
    assert withdrawal.status == "pending" and withdrawal.attempts == 3
    env.clock.advance(minutes=16)  # more than an hour after the withdrawal
    env.drain()
    [withdrawal] = [n for n in env.notifications(offer["id"]) if n.kind == "withdraw"]
    assert (withdrawal.status, withdrawal.reason) == ("dropped", "withdrawal_expired")
    assert env.emulator.store.attempts("tok-gone") == 4
