"""The dispatcher's settings and its retry schedule."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

from ..push_breaker import BreakerSettings


@dataclass(frozen=True)
class DispatchSettings:
    batch_size: int = 100
    lease: timedelta = timedelta(seconds=60)
    # A push's retries: capped exponential backoff with full jitter (no cap on their number).
    backoff_base_s: float = 2.0
    backoff_max_s: float = 900.0
    # Batches worked on side by side in one process: while one lane waits for FCM, another
    # claims or records in the database.
    lanes: int = 2
    breaker: BreakerSettings = BreakerSettings()
    # The longest sleep between tries while the database is away.
    db_backoff_max_s: float = 10.0
    # The service's public address (DEALSVC_PUBLIC_URL): a tap on a web push opens the offer's
    # page there (https only; None: no link).
    public_url: str | None = None


def backoff_s(attempts: int, settings: DispatchSettings, retry_after: float | None, rng=random.random) -> float:
    """Capped exponential backoff with full jitter (uniform below the step), never before FCM's
    Retry-After, which is itself capped at backoff_max_s: an absurd or unreadable value neither
    overflows nor parks a push past its usefulness."""
    step = min(settings.backoff_max_s, settings.backoff_base_s * 2.0 ** min(max(0, attempts - 1), 64))
    wait = retry_after if retry_after is not None and math.isfinite(retry_after) and retry_after > 0 else 0.0
    return max(step * rng(), min(wait, settings.backoff_max_s))
