"""`python -m workers.dispatcher`: the push dispatcher as its own process (run several side by side)."""
from __future__ import annotations

import gc
import sys

from config import SettingsError, export_metrics_environment

# Before workers.runtime imports dealsvc and so prometheus_client, which picks its storage on
# import (DEALSVC_METRICS_DIR).
try:
    export_metrics_environment()
except SettingsError:
    pass  # run_process reads the settings again and says what is wrong in one line

from workers.runtime import run_process  # noqa: E402


# Python's cycle collector ran about 800 times in a rush of 100,000 pushes (every 700 new objects;
# a claim makes thousands, nearly all freed by their reference counts) and each tenth pass walks
# every older object: 0.7 s of a process's 8.5 s of CPU in that rush (bench/fanout.py,
# bench/push_parts.py, docs/benchmarks.md). Ten thousand new objects a pass: a few passes a rush.
GC_THRESHOLDS = (10_000, 10, 10)


def main() -> int:
    gc.set_threshold(*GC_THRESHOLDS)
    # No ping before each transaction (a round trip, about 5 % of the process's CPU in a rush):
    # a transaction on a connection the server dropped fails, SQLAlchemy then replaces every
    # pooled connection, and the loop tries again after its backoff, as for any outage.
    return run_process(
        "dispatcher", lambda container, stop: container.dispatcher.run_forever(stop), pushes=True, pre_ping=False
    )


if __name__ == "__main__":
    sys.exit(main())
