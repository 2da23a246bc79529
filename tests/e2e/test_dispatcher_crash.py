"""A dispatcher process killed with SIGKILL in the middle of a fan-out loses nothing: after a
restart every resident has exactly one sent push, and FCM saw at most the batches in flight
(one per lane) twice."""
from __future__ import annotations

import signal
import time
from collections import Counter

from sqlalchemy import select

from dealsvc.adapters.db.models import Notification
from tests.fakes.fcm_emulator import running_emulator

from tests.support.dispatcher import BATCH, LANES, RESIDENTS, open_work, seed, start_dispatcher


def test_sigkill_mid_fanout_then_restart_loses_nothing(container, database_url):
    offer_id = seed(container)
    with running_emulator() as emulator:
        first = start_dispatcher(database_url, emulator.fcm_base)
        deadline = time.monotonic() + 60
        while len(emulator.store.messages()) < 200:
            assert first.poll() is None, "the dispatcher died"
            assert time.monotonic() < deadline, "the dispatcher sent nothing"
            time.sleep(0.002)
        first.send_signal(signal.SIGKILL)
        first.wait()
        at_kill = len(emulator.store.messages())
        assert at_kill < RESIDENTS, "the fan-out finished before the kill: nothing was tested"

        second = start_dispatcher(database_url, emulator.fcm_base)
        try:
            deadline = time.monotonic() + 90
            while open_work(container, offer_id):
                assert second.poll() is None, "the restarted dispatcher died"
                assert time.monotonic() < deadline, "the restarted dispatcher did not finish"
                time.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)

        received = Counter(m.token for m in emulator.store.messages())

    with container.db.read() as s:
        statuses = Counter(
            s.scalars(select(Notification.status).where(Notification.offer_id == offer_id)).all()
        )
    assert statuses == {"sent": RESIDENTS}
    assert set(received) == {f"tok-crash-{i:04d}" for i in range(RESIDENTS)}
    duplicates = sum(received.values()) - RESIDENTS
    print(f"\nkilled after {at_kill} pushes; duplicates after restart: {duplicates} (batch size {BATCH}, {LANES} lanes)")
    assert duplicates <= BATCH * LANES
