"""The push outbox's vocabulary: what a notification is about, where it stands, what a fan-out
plans. The database stores these values as they are spelled here."""
from __future__ import annotations

from enum import StrEnum


class PushStatus(StrEnum):
    """A planned push waits as sending in its batch until the batch's answers are recorded:
    sending -> sent | failed | suppressed | dropped | pending (a retry, or deferred: due later,
    then claimed on its own, pending -> sending -> ...)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    DROPPED = "dropped"


class PushKind(StrEnum):
    """A notification's kind; a price drop's is `price_kind(step)`, "price-<step>"."""

    OFFER = "offer"  # the alert
    WITHDRAW = "withdraw"  # the data message that replaces the alert when the deal is gone


class FanoutKind(StrEnum):
    OFFER = "offer"  # the next wave of an offer's audience
    WITHDRAW = "withdraw"  # those told, that it is gone
    PRICE = "price"  # those told who want price drops, of step `seq`


PRICE_PREFIX = "price-"


def price_kind(step: int) -> str:
    return f"{PRICE_PREFIX}{step}"


def price_step(kind: str) -> int | None:
    """The step of a price drop's kind; None for any other kind."""
    return int(kind[len(PRICE_PREFIX):]) if kind.startswith(PRICE_PREFIX) else None


# The reason of a push that waits for its shop to open (pending, due at the opening the shop's
# hours gave when it was screened): when the hours change, it is due again at once.
SHOP_CLOSED = "shop_closed"
