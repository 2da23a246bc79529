"""The scheduler process killed with SIGKILL while offers fall due and restarted after they are all
due: every offer expires exactly once, the first sweep after the takeover catches up, and no
reservation is accepted on an expired offer while nobody leads."""
from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from dealsvc.adapters.db.models import Lease, Reservation
from tests.support.scheduler import (
    ELECTED,
    expiries_logged,
    SHOP,
    listed,
    now_utc,
    reserve,
    stored_statuses,
    utc,
    wait_for_line,
    withdrawals,
)

def test_killed_scheduler_restarted_later_expires_each_offer_once(container, api, worker_process):
    api.rules(min_offer_lifetime_s=1)
    key = api.merchant()["api_key"]
    shop = api.shop(key, lat=SHOP[0], lon=SHOP[1])
    resident = api.subscriber()
    first = worker_process("scheduler", label="first")
    second = None
    try:
        wait_for_line(first, "scheduler elected", 30)
        start = now_utc()
        offers = {}
        for i in range(6):
            offer = api.offer(
                key, shop["id"], title=f"Lot {i}", quantity=3,
                expires_at=(start + timedelta(seconds=2.5 + i * 0.5)).isoformat(),
            )
            offers[offer["id"]] = utc(offer["expires_at"])
        ids = list(offers)
        last_due = max(offers.values())
        # Reservations work while the offers are live, so the refusals below mean something.
        held = reserve(api, resident["secret"], ids[-1])
        assert held.status_code == 201, held.json

        # Killed right after the first offer expired: the others fall due while nobody leads.
        wait_for_line(first, f"offer {ids[0]} expired", 10)
        first.kill()
        killed_at = now_utc()
        assert killed_at < offers[ids[1]], "the kill came after the second offer fell due: nothing was tested"
        with container.db.read() as s:
            stale_lease = s.scalar(select(Lease.expires_at).where(Lease.name == "scheduler"))

        # The gap: every offer falls due; none is written down, none can be reserved.
        attempts = 0
        refusals = Counter()
        while now_utc() < last_due + timedelta(seconds=0.3):
            for offer_id, expires in offers.items():
                if now_utc() >= expires:
                    r = reserve(api, resident["secret"], offer_id)
                    attempts += 1
                    refusals[r.status_code] += 1
            time.sleep(0.1)
        assert attempts >= 10 and refusals == Counter({409: attempts}), refusals
        stored = stored_statuses(container, ids)
        assert stored[ids[0]] == "expired"
        assert {stored[i] for i in ids[1:]} == {"active"}, "something expired the offers while no scheduler ran"
        assert not listed(api) & set(ids)

        restarted_at = now_utc()
        second = worker_process("scheduler", label="second")
        elected = ELECTED.search(wait_for_line(second, "scheduler elected", 30))
        elected_at = now_utc()
        assert elected.group(1) not in first.log(), "the restarted process must campaign under a new holder id"
        # It could not lead before the killed process's lease ran out ...
        assert elected_at >= stale_lease, (elected_at, stale_lease)
        print(
            f"\nrestarted {(restarted_at - killed_at).total_seconds():.1f} s after the kill, "
            f"{(stale_lease - restarted_at).total_seconds():.1f} s before the old lease ran out; "
            f"elected after {(elected_at - restarted_at).total_seconds():.1f} s"
        )
        # ... and its first sweep catches up with everything that fell due meanwhile.
        deadline = elected_at + timedelta(seconds=1)
        while set(stored_statuses(container, ids).values()) != {"expired"}:
            assert now_utc() < deadline, f"not all expired 1 s after the takeover: {stored_statuses(container, ids)}"
            time.sleep(0.01)
        time.sleep(2.5)  # a sweep and a sync later: still once each
    finally:
        first.kill()
        if second is not None:
            second.stop()

    assert stored_statuses(container, ids) == {i: "expired" for i in ids}
    assert withdrawals(container, ids) == Counter({i: 1 for i in ids})
    assert expiries_logged(first, second) == Counter({i: 1 for i in ids})
    assert expiries_logged(first) == Counter({ids[0]: 1})
    for offer_id in ids:
        assert api.c.get(f"/api/v1/offers/{offer_id}").json["status"] == "expired"
        assert reserve(api, resident["secret"], offer_id).status_code == 409
    # The hold on the last offer ended with it, written down by the expiry.
    hold = api.c.get(f"/api/v1/reservations/{held.json['id']}", headers=api.h(resident["secret"]))
    assert hold.json["status"] == "expired"
    with container.db.read() as s:
        assert s.scalar(select(Reservation.status).where(Reservation.id == held.json["id"])) == "expired"
    assert "Traceback" not in first.log() + second.log()


def test_an_expiry_the_scheduler_logged_is_in_the_database_even_if_killed_right_after(container, api, worker_process):
    """The log line is written after the commit: killed the moment it appears, the process
    leaves the offer expired, never a logged expiry that did not happen."""
    api.rules(min_offer_lifetime_s=1)
    key = api.merchant()["api_key"]
    shop = api.shop(key, lat=SHOP[0], lon=SHOP[1])
    scheduler = worker_process("scheduler")
    try:
        wait_for_line(scheduler, "scheduler elected", 30)
        offer = api.offer(key, shop["id"], expires_at=(now_utc() + timedelta(seconds=1.5)).isoformat())
        deadline = time.monotonic() + 10
        while not any(f"offer {offer['id']} expired" in line for line in scheduler.new_lines()):
            assert scheduler.alive() and time.monotonic() < deadline, scheduler.log()
            time.sleep(0.0005)
        scheduler.kill()
    finally:
        scheduler.kill()
    assert stored_statuses(container, [offer["id"]]) == {offer["id"]: "expired"}
    assert withdrawals(container, [offer["id"]]) == Counter({offer["id"]: 1})
