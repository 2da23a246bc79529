"""Two dispatcher processes side by side share a fan-out: both do part of the work, and every
resident still gets exactly one push."""
from __future__ import annotations

import re
import signal
import time
from collections import Counter

from sqlalchemy import func, select

from dealsvc.adapters.db.models import Notification
from tests.fakes.fcm_emulator import running_emulator
from tests.support.dispatcher import RESIDENTS, start_dispatcher, open_work, post_offer, seed


def test_two_dispatchers_split_the_work_and_nobody_gets_two(container, database_url, tmp_path):
    owner, shop_id = seed(container, post=False)
    log_paths = [tmp_path / f"dispatcher-{i}.log" for i in range(2)]
    with running_emulator() as emulator:
        log_files = [open(p, "w") for p in log_paths]
        workers = [start_dispatcher(database_url, emulator.fcm_base, log_level="DEBUG", log=f) for f in log_files]
        try:
            # Both up before the offer is posted, or the first one up could do it all alone.
            deadline = time.monotonic() + 60
            while not all("dispatcher ready" in p.read_text() for p in log_paths):
                assert all(w.poll() is None for w in workers), "a dispatcher died"
                assert time.monotonic() < deadline, "the dispatchers did not start"
                time.sleep(0.1)
            offer_id = post_offer(container, owner, shop_id)
            deadline = time.monotonic() + 120
            while open_work(container, offer_id) or not _all_matched(container, offer_id):
                assert all(w.poll() is None for w in workers), "a dispatcher died"
                assert time.monotonic() < deadline, "the dispatchers did not finish"
                time.sleep(0.2)
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w, f in zip(workers, log_files):
                w.wait(timeout=30)
                f.close()
        logs = [p.read_text() for p in log_paths]
        received = Counter(m.token for m in emulator.store.messages())

    assert len(received) == RESIDENTS and set(received.values()) == {1}
    sent_by = [sum(int(n) for n in re.findall(r"sent batch of (\d+)", log)) for log in logs]
    print(f"\npushes sent by each dispatcher: {sent_by}")
    assert sum(sent_by) == RESIDENTS
    assert all(n > 0 for n in sent_by), "one dispatcher did all the work"


def _all_matched(container, offer_id) -> bool:
    with container.db.read() as s:
        return s.scalar(select(func.count()).select_from(Notification).where(Notification.offer_id == offer_id)) == RESIDENTS
