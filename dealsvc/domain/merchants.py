"""A merchant account's standing: its statuses and what each one allows."""
from __future__ import annotations

from typing import Any

from . import offers as offer_rules
from .errors import Forbidden
from .i18n import Text, Word

ACTIVE, PENDING, SUSPENDED = "active", "pending", "suspended"
STATUSES = (ACTIVE, PENDING, SUSPENDED)
# What a person reads for each (the API's values stay as they are).
STATUS_WORDS = {
    ACTIVE: Word("account", "active"),
    PENDING: Word("account", "pending approval"),
    SUSPENDED: Word("account", "suspended"),
}
# What the operator sets: approve (active) or suspend. Pending is only ever a new sign-up's.
MODERATED = (ACTIVE, SUSPENDED)

# What a suspended merchant may still send about an offer: its withdrawal.
WITHDRAWAL = {"status": offer_rules.CANCELLED}


def check_may_add_shop(status: str) -> None:
    # A pending merchant may prepare its shops while it waits for approval.
    if status == SUSPENDED:
        raise Forbidden(Text("This merchant account is suspended and cannot add shops."))


def may_see_figures(status: str) -> bool:
    """Figures derived from residents' positions (domain/privacy.py) only for a merchant in good
    standing: a pending sign-up or a suspended account gets none."""
    return status == ACTIVE


def check_may_post(status: str) -> None:
    if status != ACTIVE:
        raise Forbidden(Text("This merchant account is {status} and cannot post offers.", status=STATUS_WORDS.get(status, status)))


def check_may_change_offer(status: str, changes: dict[str, Any]) -> None:
    """Suspended: an offer may only be withdrawn (its quantity, prices and status stay as they are)."""
    if status == SUSPENDED and changes != WITHDRAWAL:
        raise Forbidden(Text("This merchant account is suspended: its offers can only be withdrawn."))
