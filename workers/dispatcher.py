"""`python -m workers.dispatcher`: the push dispatcher as its own process (run several side by side)."""
from __future__ import annotations

import sys

from workers.runtime import run_process


def main() -> int:
    return run_process("dispatcher", lambda container, stop: container.dispatcher.run_forever(stop))


if __name__ == "__main__":
    sys.exit(main())
