"""A hold's life: its statuses, when it ends by itself, and which status it has at a given moment."""
from __future__ import annotations

from datetime import datetime, timedelta

from . import offers as offer_rules
from .i18n import Word

HELD, COLLECTED, RELEASED, EXPIRED = "held", "collected", "released", "expired"
# held -> collected (at the counter) | released (by the resident, or the offer was withdrawn)
#      | expired (not collected within hold_minutes, or the offer expired first)
STATUSES = (HELD, COLLECTED, RELEASED, EXPIRED)
# What a person reads for each (the API's values stay as they are).
STATUS_WORDS = {
    HELD: Word("reservation", "held"),
    COLLECTED: Word("reservation", "collected"),
    RELEASED: Word("reservation", "released"),
    EXPIRED: Word("reservation", "expired"),
}


def hold_expires_at(now: datetime, hold_minutes: int, offer_expires_at: datetime) -> datetime:
    """When a hold made now ends unless collected: hold_minutes later, or with the offer if sooner."""
    return min(now + timedelta(minutes=hold_minutes), offer_expires_at)


def effective_status(stored_status: str, expires_at: datetime, offer_status: str, now: datetime) -> str:
    """A hold ends at its time and with its offer, whether or not the scheduler has written it
    down yet. `offer_status` is the offer's effective status."""
    if stored_status != HELD:
        return stored_status
    if expires_at <= now or offer_status == offer_rules.EXPIRED:
        return EXPIRED
    if offer_status == offer_rules.CANCELLED:
        return RELEASED
    return HELD
