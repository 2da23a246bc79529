"""`python -m workers.scheduler`: the scheduler as its own process (one leads, others stand by)."""
from __future__ import annotations

import sys

from workers.runtime import run_process


def main() -> int:
    return run_process("scheduler", lambda container, stop: container.scheduler.run_forever(stop))


if __name__ == "__main__":
    sys.exit(main())
