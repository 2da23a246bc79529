"""The push dispatcher: expands fan-outs into notifications, applies the audience rules, sends
through the push gateway and records every outcome.

A wave's notifications are planned `sending`, in batches (push_batches) of the batch size.
Claiming a batch leases its one row and commits before anything is sent; recording its answers
moves every one of its pushes out of `sending` (sent, failed, back to pending for a retry...)
and deletes it, in one transaction. So a crashed dispatcher's batch is claimed again once its
lease runs out: a crash costs at most the batches it held (one per lane) of duplicates, never a
lost push. Pushes that fall due later (retries, deferrals) are claimed on their own, pending ->
sending with a lease of their own, when no batch is due. While a batch is on the wire a
heartbeat renews its lease (the batch's row, or the rows a claim of single pushes still holds),
so a slow FCM never lets another lane take a batch that is still being sent. On PostgreSQL
several dispatchers claim side by side with FOR UPDATE SKIP LOCKED; on SQLite the write lock
serializes them. A withdrawal or a price drop goes only after the alert it replaces was sent.

A push is retried (capped exponential backoff, full jitter, FCM's Retry-After up to the cap) for
as long as it can still be useful: an offer's alert or price drop until the offer ends (the
claim drops it then), a withdrawal for its own TTL. Only a permanent answer (a dead token, a
message FCM refuses) ends it early. When FCM fails for everyone the circuit breaker
(push_breaker.py) pauses the claims and the batch's pushes go back unspent.

One job per module: planning.py (a wave's notifications), claiming.py (taking due pushes),
screening.py (send, defer, suppress or drop), quota.py (the daily caps), messages.py (what a push
says), lease.py (the heartbeat), recording.py (the answers), dispatcher.py (the loop). They write
no SQL: they work through the outbox (ports.py), whose statements are the db adapter's
(queries/outbox/, a module per step, rows.py there: what a claimed push needs, read per batch).
"""
from .dispatcher import Dispatcher
from .settings import DispatchSettings, backoff_s

__all__ = ["DispatchSettings", "Dispatcher", "backoff_s"]
