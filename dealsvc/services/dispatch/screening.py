"""Whether a claimed push goes now, or is deferred, suppressed or dropped instead."""
from __future__ import annotations

from datetime import timedelta

from ...domain import audience, delivery, waves
from ...domain import offers as offer_rules
from ...domain.outbox import SHOP_CLOSED, PushStatus, price_step
from .messages import withdrawal_ends

DAILY_CAP = (PushStatus.SUPPRESSED, {"status": PushStatus.SUPPRESSED, "reason": "daily_cap"})
# How long a withdrawal or a price drop waits for its alert, still on its way, before it looks again.
FOLLOW_UP_WAIT = timedelta(seconds=2)


def follow_up(alert_status: str | None, now) -> tuple[str, dict] | None:
    """A withdrawal or a price drop goes only after the alert it replaces was delivered: it waits
    while the alert is on its way, and is dropped if the alert was never sent (a resident who
    never heard of the offer needs no news of it)."""
    if alert_status == PushStatus.SENT:
        return None
    if alert_status == PushStatus.SENDING:
        return "deferred", {"status": PushStatus.PENDING, "reason": "alert_sending", "due_at": now + FOLLOW_UP_WAIT}
    return PushStatus.DROPPED, {"status": PushStatus.DROPPED, "reason": "alert_not_sent"}


def screen_withdrawal(row, now) -> tuple[str, dict] | None:
    if not row.active:
        return PushStatus.DROPPED, {"status": PushStatus.DROPPED, "reason": "subscriber_inactive"}
    if delivery.ttl_s(withdrawal_ends(row), now) < 1:
        return PushStatus.DROPPED, {"status": PushStatus.DROPPED, "reason": "withdrawal_expired"}
    return None


def screen_price(row, now) -> tuple[str, dict] | None:
    """screen() for a price-drop push: also dropped once a later step has applied (that
    step's own push carries the newer price) or the resident no longer wants them; quiet
    hours apply, the daily cap does not."""
    if offer_rules.is_live(row.offer_status, row.expires_at, now) and row.active:
        if row.price_step > price_step(row.kind):
            return PushStatus.DROPPED, {"status": PushStatus.DROPPED, "reason": "superseded"}
        if not row.price_drops:
            return PushStatus.DROPPED, {"status": PushStatus.DROPPED, "reason": "price_drops_off"}
    return screen(row, now)


def screen(row, now) -> tuple[str, dict] | None:
    """None when the push may go now (the daily cap aside: quota.py counts a batch at once);
    otherwise what happens to it instead: its outcome label and the columns to change."""
    if not offer_rules.is_live(row.offer_status, row.expires_at, now):
        reason = "offer_" + offer_rules.effective_status(row.offer_status, row.expires_at, now)
        return PushStatus.DROPPED, {"status": PushStatus.DROPPED, "reason": reason}
    if not row.active:
        return PushStatus.DROPPED, {"status": PushStatus.DROPPED, "reason": "subscriber_inactive"}
    if delivery.ttl_s(row.expires_at, now) < 1:
        return PushStatus.DROPPED, {"status": PushStatus.DROPPED, "reason": "offer_expired"}
    # Its shop closed (a push deferred by quiet hours or retried may fall due after closing, a
    # price drop applies at any hour): it waits for the shop to open, as the offer's waves do.
    opens = waves.held_until(row.shop_hours, row.shop_timezone, now, row.expires_at)
    if opens is not None:
        if opens >= row.expires_at:
            return PushStatus.SUPPRESSED, {"status": PushStatus.SUPPRESSED, "reason": SHOP_CLOSED}
        return "deferred", {"status": PushStatus.PENDING, "reason": SHOP_CLOSED, "due_at": opens}
    until = audience.quiet_until(now, row.timezone, row.quiet_start, row.quiet_end)
    if until is not None:
        if until >= row.expires_at:
            return PushStatus.SUPPRESSED, {"status": PushStatus.SUPPRESSED, "reason": "quiet_hours"}
        return "deferred", {"status": PushStatus.PENDING, "reason": "quiet_hours", "due_at": until}
    return None

