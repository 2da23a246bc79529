"""Calls made at the same moment from threads of their own, as concurrent clients make them."""
from __future__ import annotations

import threading
from typing import Any, Callable


def all_at_once(calls: list[Callable[[], Any]], timeout_s: float = 60) -> list:
    """Run the calls in threads released together by a barrier (each waits at most `timeout_s`
    for the others); their results in order, an exception in place of its call's result, for the
    test to report in its own thread."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=timeout_s)
            results[i] = calls[i]()
        except BaseException as exc:  # reported by the caller, in the test's thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
