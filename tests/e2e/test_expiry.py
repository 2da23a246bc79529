"""Offers expire at expires_at: a real scheduler process writes it down within a second, and every
read, listing and reservation treats the offer as expired from that moment even with no scheduler."""
from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta



from tests.support.scheduler import (  # noqa: F401
    EXPIRED_LOG, SHOP, listed, now_utc, reserve, sleep_until, stored_statuses, utc, wait_for_line, withdrawals,
)


def test_a_scheduler_process_expires_offers_within_a_second_of_their_time(container, api, worker_process):
    api.rules(min_offer_lifetime_s=1)
    key = api.merchant()["api_key"]
    shop = api.shop(key, lat=SHOP[0], lon=SHOP[1])
    resident = api.subscriber()
    scheduler = worker_process("scheduler")
    try:
        wait_for_line(scheduler, "scheduler elected", 30)
        start = now_utc()
        offers: dict[str, datetime] = {}
        for i in range(9):
            # Spread over 2-6 s, off the whole seconds, so no two fall due together by accident.
            expires = start + timedelta(seconds=2 + i / 2, milliseconds=37 * i)
            offer = api.offer(key, shop["id"], title=f"Lot {i}", expires_at=expires.isoformat())
            assert offer["status"] == "active"
            offers[offer["id"]] = utc(offer["expires_at"])

        seen_expired: dict[str, datetime] = {}
        logged: dict[str, list[int]] = {}
        deadline = max(offers.values()) + timedelta(seconds=5)
        while len(seen_expired) < len(offers) and now_utc() < deadline:
            assert scheduler.alive(), scheduler.log()
            read_at = now_utc()  # the read sees every commit made before it began
            for offer_id, status in stored_statuses(container, offers).items():
                if status == "expired" and offer_id not in seen_expired:
                    seen_expired[offer_id] = read_at
            for line in scheduler.new_lines():
                if m := EXPIRED_LOG.search(line):
                    logged.setdefault(m.group(1), []).append(int(m.group(2)))
            time.sleep(0.01)
        time.sleep(0.5)  # a second expiry of the same offer would show in the log by now
        for line in scheduler.new_lines():
            if m := EXPIRED_LOG.search(line):
                logged.setdefault(m.group(1), []).append(int(m.group(2)))
    finally:
        scheduler.stop()

    assert set(seen_expired) == set(offers), f"never expired: {set(offers) - set(seen_expired)}"
    lateness = {oid: (seen_expired[oid] - offers[oid]).total_seconds() for oid in offers}
    worst = max(lateness.values())
    print(
        f"\nworst expiry lateness seen in the database: {worst * 1000:.0f} ms "
        f"(scheduler's own log: worst {max(max(v) for v in logged.values())} ms)"
    )
    assert min(lateness.values()) >= 0, "an offer was expired before its time"
    assert worst < 1.0, lateness
    # Each offer expired once, by the process that leads, and logged as such.
    assert {oid: len(v) for oid, v in logged.items()} == {oid: 1 for oid in offers}
    assert all(0 <= v[0] < 1000 for v in logged.values()), logged
    assert withdrawals(container, offers) == Counter({oid: 1 for oid in offers})
    assert "Traceback" not in scheduler.log()

    # Afterwards: shown expired, never listed, never reservable.
    assert not listed(api) & set(offers)
    for offer_id in offers:
        assert api.c.get(f"/api/v1/offers/{offer_id}").json["status"] == "expired"
        r = reserve(api, resident["secret"], offer_id)
        assert r.status_code == 409, r.json
        assert "expired" in r.json["detail"]


def test_reads_treat_an_offer_as_expired_from_its_time_with_no_scheduler_running(container, api):
    api.rules(min_offer_lifetime_s=1)
    key = api.merchant()["api_key"]
    shop = api.shop(key, lat=SHOP[0], lon=SHOP[1])
    resident = api.subscriber()
    offer = api.offer(key, shop["id"], quantity=5, expires_at=(now_utc() + timedelta(seconds=2)).isoformat())
    expires = utc(offer["expires_at"])

    # Just before its time it is live: shown active, listed, reservable.
    assert api.c.get(f"/api/v1/offers/{offer['id']}").json["status"] == "active"
    assert offer["id"] in listed(api)
    held = reserve(api, resident["secret"], offer["id"])
    assert held.status_code == 201, held.json
    assert now_utc() < expires, "the setup took too long to see the offer live"

    sleep_until(expires)
    got = api.c.get(f"/api/v1/offers/{offer['id']}")
    assert got.status_code == 200 and got.json["status"] == "expired"
    assert offer["id"] not in listed(api)
    refused = reserve(api, resident["secret"], offer["id"])
    assert refused.status_code == 409, refused.json
    assert "expired" in refused.json["detail"]
    changed = api.c.patch(f"/api/v1/offers/{offer['id']}", json={"quantity": 9}, headers=api.h(key))
    assert changed.status_code == 409, changed.json
    # The hold went with the offer, although nobody wrote either down.
    hold = api.c.get(f"/api/v1/reservations/{held.json['id']}", headers=api.h(resident["secret"]))
    assert hold.status_code == 200 and hold.json["status"] == "expired"
    assert stored_statuses(container, [offer["id"]]) == {offer["id"]: "active"}
