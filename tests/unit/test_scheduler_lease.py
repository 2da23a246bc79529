"""The scheduler's election on the in-memory store: one holder of the lease at a time, a standby
taking over once the holder stops renewing, or at once when it lets go, without a database."""
from datetime import timedelta

import pytest

from dealsvc.services.scheduler import LeaseElection
from tests.support.contracts import T0
from tests.support.fakes import Clock, MemoryStore

TTL = timedelta(seconds=6)


def test_one_leads_and_the_standby_takes_over_once_the_lease_runs_out():
    store, clock = MemoryStore(), Clock()
    first, second = LeaseElection(store, clock, ttl=TTL), LeaseElection(store, clock, ttl=TTL)
    assert first.try_acquire() and first.taken_until is None
    assert not second.try_acquire()
    assert second.taken_until == T0 + TTL  # when the standby looks again
    clock.now += timedelta(seconds=5)
    assert first.try_acquire()  # renewed: six more seconds
    clock.now += timedelta(seconds=2)
    assert not second.try_acquire() and second.taken_until == T0 + timedelta(seconds=11)
    clock.now = second.taken_until  # not before it has run out
    assert not second.try_acquire()
    clock.now += timedelta(milliseconds=10)
    assert second.try_acquire()
    assert not first.try_acquire()  # the old leader finds it taken


def test_a_released_lease_is_taken_at_once():
    store, clock = MemoryStore(), Clock()
    first, second = LeaseElection(store, clock, ttl=TTL), LeaseElection(store, clock, ttl=TTL)
    assert first.try_acquire() and not second.try_acquire()
    second.release()  # not its lease: nothing changes
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()


def test_the_lease_is_a_setting_the_composition_root_gives_the_scheduler(tmp_path):
    from config import Settings, SettingsError
    from dealsvc.bootstrap import bootstrap

    assert Settings.from_env({}).scheduler_lease_s == 6.0
    settings = Settings.from_env({"DEALSVC_SCHEDULER_LEASE_S": "2.5", "DEALSVC_DATABASE_URL": f"sqlite:///{tmp_path}/d.db",
                                  "DEALSVC_ADMIN_TOKEN": "x" * 40, "DEALSVC_GEOCODER": "none"})
    container = bootstrap(settings, migrate_schema=False)  # no database is opened
    try:
        assert container.scheduler.election.ttl == timedelta(seconds=2.5)
        assert not (tmp_path / "d.db").exists()
    finally:
        container.close()
    for bad in ("0.5", "-1", "soon", "inf"):
        with pytest.raises(SettingsError, match="DEALSVC_SCHEDULER_LEASE_S"):
            Settings.from_env({"DEALSVC_SCHEDULER_LEASE_S": bad})
