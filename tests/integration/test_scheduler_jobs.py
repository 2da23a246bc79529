"""The scheduler's periodic jobs are data: each runs once as soon as a scheduler is elected and
then at its interval, and a job added by the composition root runs like the built-in ones."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from dealsvc.adapters.db.store import Store
from dealsvc.services.scheduler import Periodic, Scheduler


def _wait(what: str, condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_the_built_in_jobs_are_listed_with_their_intervals(container):
    jobs = {job.id: job.every for job in container.scheduler.jobs}
    assert jobs == {"sweep": timedelta(seconds=2), "sync": timedelta(seconds=1), "price-steps": timedelta(seconds=2),
                    "retention": timedelta(hours=1)}


def test_an_added_job_runs_at_election_and_then_at_its_interval(container):
    runs: list[float] = []
    scheduler = Scheduler(
        Store(container.db), container.clock, container.expiry, container.price_steps,
        periodic=[Periodic("count", timedelta(seconds=0.2), lambda: runs.append(time.monotonic()))],
    )
    assert [job.id for job in scheduler.jobs][-1] == "count"
    stop = threading.Event()
    started = time.monotonic()
    thread = threading.Thread(target=scheduler.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        _wait("the job's first run", lambda: len(runs) >= 1)
        # Once at election, well before its first interval would have passed twice.
        assert runs[0] - started < 5
        _wait("three more runs", lambda: len(runs) >= 4)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    count = len(runs)
    time.sleep(0.5)
    assert len(runs) == count  # a scheduler that stood down runs nothing more


def test_a_failing_job_does_not_stop_the_others(container):
    ran: list[str] = []

    def broken():
        ran.append("broken")
        raise RuntimeError("boom")

    scheduler = Scheduler(
        Store(container.db), container.clock, container.expiry, container.price_steps,
        periodic=[Periodic("broken", timedelta(seconds=0.1), broken),
                  Periodic("fine", timedelta(seconds=0.1), lambda: ran.append("fine"))],
    )
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        _wait("both jobs to run several times", lambda: ran.count("broken") >= 3 and ran.count("fine") >= 3)
    finally:
        stop.set()
        thread.join(10)
