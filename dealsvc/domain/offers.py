"""An offer's life: which status it has at a given moment and which changes its state allows."""
from __future__ import annotations

from datetime import datetime

from .errors import Conflict
from .i18n import Plural, Text, Word

ACTIVE, SOLD_OUT, EXPIRED, CANCELLED = "active", "sold_out", "expired", "cancelled"
STATUSES = (ACTIVE, SOLD_OUT, EXPIRED, CANCELLED)
# What a person reads for each (the API's values stay as they are).
STATUS_WORDS = {
    ACTIVE: Word("offer", "active"),
    SOLD_OUT: Word("offer", "sold out"),
    EXPIRED: Word("offer", "expired"),
    CANCELLED: Word("offer", "cancelled"),
}


def effective_status(stored_status: str, expires_at: datetime, now: datetime) -> str:
    """Expired from expires_at on, whether or not the scheduler has written it down yet."""
    if stored_status in (ACTIVE, SOLD_OUT) and expires_at <= now:
        return EXPIRED
    return stored_status


def is_live(stored_status: str, expires_at: datetime, now: datetime) -> bool:
    """Listed, reservable and pushable."""
    return effective_status(stored_status, expires_at, now) == ACTIVE


def check_changeable(status: str) -> None:
    if status == EXPIRED:
        raise Conflict(Text("The offer has expired and can no longer be changed."))
    if status == CANCELLED:
        raise Conflict(Text("The offer was withdrawn and can no longer be changed."))


def new_quantity(quantity: int, quantity_left: int, requested: int) -> tuple[int, int]:
    """(quantity, quantity_left) after the shopkeeper sets a new total quantity.

    What residents already hold or collected stays theirs, so the total may not go below it.
    """
    taken = quantity - quantity_left
    if requested < taken:
        raise Conflict(
            Plural(
                "{n} already reserved or collected; the quantity cannot go below that.",
                "{n} already reserved or collected; the quantity cannot go below that.",
                n=taken,
            ),
            {"quantity": [Plural(
                "must be at least {n} (already reserved or collected).",
                "must be at least {n} (already reserved or collected).",
                n=taken,
            )]},
        )
    return requested, requested - taken


def withdraw_rest(quantity: int, quantity_left: int) -> tuple[int, int]:
    """(quantity, quantity_left) when the shopkeeper marks the offer sold out: what was left
    is gone, what residents hold or collected stays theirs, so a later new quantity counts
    only those as taken."""
    return quantity - quantity_left, 0


def status_for_stock(status: str, quantity_left: int) -> str:
    """Stock decides between active and sold_out; other statuses stay as they are."""
    if status in (ACTIVE, SOLD_OUT):
        return ACTIVE if quantity_left > 0 else SOLD_OUT
    return status
