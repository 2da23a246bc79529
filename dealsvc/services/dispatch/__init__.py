"""The push dispatcher: expands fan-outs into notifications, applies the audience rules, sends
through the push gateway and records every outcome.

A notification moves pending -> sending -> sent | failed | suppressed | dropped. Claiming a
batch marks it `sending` with a lease and commits before anything is sent, so a crashed
dispatcher's batch is claimed again once the lease runs out: a crash costs at most the batches
it held (one per lane) of duplicates, never a lost push. While a batch is on the wire a
heartbeat renews the lease of exactly the rows its claim still holds, so a slow FCM never lets
another lane take a batch that is still being sent. On PostgreSQL several dispatchers claim side
by side with FOR UPDATE SKIP LOCKED; on SQLite the write lock serializes them.

A push is retried (capped exponential backoff, full jitter, FCM's Retry-After up to the cap) for
as long as it can still be useful: an offer's alert or price drop until the offer ends (the
claim drops it then), a withdrawal for its own TTL. Only a permanent answer (a dead token, a
message FCM refuses) ends it early. When FCM fails for everyone the circuit breaker
(push_breaker.py) pauses the claims and the batch's pushes go back unspent.

One job per module: planning.py (a wave's notifications), claiming.py (taking due pushes),
screening.py (send, defer, suppress or drop), quota.py (the daily caps), messages.py (what a push
says), lease.py (the heartbeat), recording.py (the answers), dispatcher.py (the loop).
"""
from .dispatcher import Dispatcher
from .settings import DispatchSettings, backoff_s

__all__ = ["DispatchSettings", "Dispatcher", "backoff_s"]
