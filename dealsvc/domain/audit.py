"""The operator's audit: what operators do, and how the one who did it is named without keeping
any secret (a fingerprint of the token or of the console session)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from .i18n import Word
from .merchants import SUSPENDED


class ActorKind(StrEnum):
    API = "api"  # the operator's bearer token, on /api/v1/admin/...
    CONSOLE = "console"  # a signed-in session of /admin/


class Action(StrEnum):
    RULES_CHANGED = "rules_changed"  # the values: rule_changes, by audit_id
    MERCHANT_APPROVED = "merchant_approved"
    MERCHANT_SUSPENDED = "merchant_suspended"
    MERCHANT_ERASED = "merchant_erased"  # its personal data (services/erasure.py)
    SIGNED_IN = "signed_in"
    SIGNED_OUT = "signed_out"


# What a person reads for each (the stored values stay as they are).
ACTION_WORDS = {
    Action.RULES_CHANGED: Word("audit", "rules changed"),
    Action.MERCHANT_APPROVED: Word("audit", "merchant approved"),
    Action.MERCHANT_SUSPENDED: Word("audit", "merchant suspended"),
    Action.MERCHANT_ERASED: Word("audit", "merchant's personal data erased"),
    Action.SIGNED_IN: Word("audit", "signed in to the console"),
    Action.SIGNED_OUT: Word("audit", "signed out of the console"),
}
ACTOR_WORDS = {
    ActorKind.API: Word("audit", "API token"),
    ActorKind.CONSOLE: Word("audit", "console session"),
}

FINGERPRINT_LENGTH = 12


def fingerprint(secret: str) -> str:
    """Names a credential (or the hash a session is stored under) well enough to tell two apart,
    and reveals nothing of it: the first hex digits of its SHA-256."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    ref: str  # fingerprint(...)


def status_action(status: str) -> Action:
    """The action an operator takes by setting a merchant's status (domain.merchants.MODERATED)."""
    return Action.MERCHANT_SUSPENDED if status == SUSPENDED else Action.MERCHANT_APPROVED
