"""Two scheduler processes against one database: one leads, the other stands by; every offer
expires once; when the leader is killed the standby takes over within the lease's time."""
from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select

from dealsvc.adapters.db.models import Lease
from tests.support.scheduler import EXPIRED_LOG, SHOP, now_utc, stored_statuses, utc, withdrawals
from tests.support.scheduler import ELECTED, expiries_logged

def lease_ttl_s(container) -> float:
    """The scheduler's lease as the composition root builds it (the processes share its settings):
    a standby may take over only once the leader's has run out."""
    return container.scheduler.election.ttl.total_seconds()


def lease_expiry(container) -> datetime:
    with container.db.read() as s:
        return s.scalar(select(Lease.expires_at).where(Lease.name == "scheduler"))


class Watch:
    """Reads the processes' logs as they grow, noting when each line was seen."""

    def __init__(self, processes):
        self.processes = processes
        self.elections: list[tuple[datetime, object, str]] = []
        self.expiries: dict[str, tuple[datetime, int]] = {}

    def poll(self) -> None:
        seen_at = now_utc()
        for p in self.processes:
            for line in p.new_lines():
                if m := ELECTED.search(line):
                    self.elections.append((seen_at, p, m.group(1)))
                if m := EXPIRED_LOG.search(line):
                    self.expiries.setdefault(m.group(1), (seen_at, int(m.group(2))))

    def until(self, done, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            for p in self.processes:
                assert p.alive() or p.proc.returncode == -9, p.log()
            assert time.monotonic() < deadline, f"{what}:\n" + "\n".join(p.log() for p in self.processes)
            time.sleep(0.02)
            self.poll()


def test_two_schedulers_one_leads_each_offer_expires_once_and_the_standby_takes_over(container, api, worker_process):
    api.rules(min_offer_lifetime_s=1)
    key = api.merchant()["api_key"]
    shop = api.shop(key, lat=SHOP[0], lon=SHOP[1])
    lease_s = lease_ttl_s(container)
    processes = [worker_process("scheduler", label="a"), worker_process("scheduler", label="b")]
    watch = Watch(processes)
    try:
        watch.until(lambda: watch.elections, 30, "nobody was elected")
        # Both are up (each has connected and campaigned) and still only one leads.
        time.sleep(lease_s / 2)
        watch.poll()
        assert len(watch.elections) == 1, watch.elections
        _, leader, _ = watch.elections[0]
        [standby] = [p for p in processes if p is not leader]

        start = now_utc()
        offers: dict[str, datetime] = {}
        # A quarter of the lease apart: the leader expires the first three, and at least two fall
        # due after the standby has waited out the lease.
        for i in range(12):
            offer = api.offer(
                key, shop["id"], title=f"Lot {i}",
                expires_at=(start + timedelta(seconds=2 + i * lease_s / 4)).isoformat(),
            )
            offers[offer["id"]] = utc(offer["expires_at"])
        ids = list(offers)

        # The leader expires the first few; then it dies without a word, just after renewing its
        # lease (the worst moment: the standby must wait the whole TTL).
        watch.until(lambda: len(watch.expiries) >= 3, 15, "the leader expired nothing")
        held_until = lease_expiry(container)
        watch.until(lambda: lease_expiry(container) != held_until, lease_s, "the leader never renewed")
        leader.kill()
        killed_at = now_utc()
        watch.until(lambda: len(watch.elections) == 2, lease_s + 5, "the standby never took over")
        taken_over_at, new_leader, _ = watch.elections[1]
        takeover_s = (taken_over_at - killed_at).total_seconds()
        due_after_takeover = [i for i in ids if offers[i] > taken_over_at + timedelta(seconds=0.5)]

        watch.until(lambda: len(watch.expiries) == len(ids), 20, "not every offer expired")
        time.sleep(2.5)  # a sweep and a sync later: still once each
        watch.poll()
    finally:
        for p in processes:
            p.stop()

    print(f"\nstandby took over {takeover_s:.1f} s after the leader was killed (lease {lease_s:g} s)")
    assert new_leader is standby
    assert takeover_s <= lease_s + 0.5
    assert len(due_after_takeover) >= 2, "the takeover came too late to test the new leader's date jobs"
    # Each offer expired exactly once, by whichever process led at the time.
    assert stored_statuses(container, ids) == {i: "expired" for i in ids}
    assert withdrawals(container, ids) == Counter({i: 1 for i in ids})
    logged = expiries_logged(*processes)
    assert logged == Counter({i: 1 for i in ids}), {i: logged[i] for i in ids if logged[i] != 1}
    assert all(watch.expiries[i][0] < killed_at for i in expiries_logged(leader))
    assert all(watch.expiries[i][0] >= taken_over_at for i in expiries_logged(standby))
    # The new leader runs the date jobs: what fell due after the takeover expired on time.
    late = {i: watch.expiries[i][1] for i in due_after_takeover}
    assert all(0 <= ms < 1000 for ms in late.values()), late
    assert "Traceback" not in standby.log()


def test_a_standby_started_later_takes_over_within_the_lease_ttl(container, api, worker_process):
    """Out of step with the leader (it started a while after), the standby still notices the
    dead leader's lease running out at once, not up to one of its own heartbeats later."""
    api.rules(min_offer_lifetime_s=1)
    key = api.merchant()["api_key"]
    shop = api.shop(key, lat=SHOP[0], lon=SHOP[1])
    lease_s = lease_ttl_s(container)
    leader = worker_process("scheduler", label="leader")
    watch = Watch([leader])
    standby = None
    try:
        watch.until(lambda: watch.elections, 30, "nobody was elected")
        # Started out of step: its campaigns fall between the leader's renewals.
        time.sleep(lease_s / 4)
        standby = worker_process("scheduler", label="standby")
        watch.processes.append(standby)
        time.sleep(lease_s / 2)  # up, connected, and standing by
        watch.poll()
        assert standby.alive() and len(watch.elections) == 1, watch.elections
        held_until = lease_expiry(container)
        watch.until(lambda: lease_expiry(container) != held_until, lease_s, "the leader never renewed")
        leader.kill()
        killed_at = now_utc()
        offers = {}
        for i in range(3):
            offer = api.offer(
                key, shop["id"], title=f"Lot {i}",
                expires_at=(killed_at + timedelta(seconds=lease_s + 1.5 + i)).isoformat(),
            )
            offers[offer["id"]] = utc(offer["expires_at"])
        watch.until(lambda: len(watch.elections) == 2, lease_s + 5, "the standby never took over")
        takeover_s = (watch.elections[1][0] - killed_at).total_seconds()
        watch.until(lambda: len(watch.expiries) == len(offers), 10, "not every offer expired")
    finally:
        leader.kill()
        if standby is not None:
            standby.stop()

    print(f"\nstandby out of step took over {takeover_s:.1f} s after the leader was killed (lease {lease_s:g} s)")
    assert watch.elections[1][1] is standby
    assert takeover_s <= lease_s + 0.5
    assert withdrawals(container, offers) == Counter({i: 1 for i in offers})
    assert all(0 <= watch.expiries[i][1] < 1000 for i in offers), watch.expiries
