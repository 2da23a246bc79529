"""`python -m workers.dispatcher`: the push dispatcher as its own process (run several side by side)."""
from __future__ import annotations

import sys

from config import SettingsError, export_metrics_environment

# Before workers.runtime imports dealsvc and so prometheus_client, which picks its storage on
# import (DEALSVC_METRICS_DIR).
try:
    export_metrics_environment()
except SettingsError:
    pass  # run_process reads the settings again and says what is wrong in one line

from workers.runtime import run_process  # noqa: E402


def main() -> int:
    return run_process("dispatcher", lambda container, stop: container.dispatcher.run_forever(stop), pushes=True)


if __name__ == "__main__":
    sys.exit(main())
