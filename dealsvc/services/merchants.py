"""Merchants: sign-up (active, or pending the operator's approval) and moderation."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..domain import offers as offer_rules
from ..domain.audit import Actor, status_action
from ..domain.clock import Clock
from ..domain.credentials import MERCHANT_PREFIX, hash_secret, new_id, new_secret
from ..domain.errors import Conflict, NotFound
from ..domain.i18n import Text
from ..domain.merchants import ACTIVE, PENDING, SUSPENDED
from .audit import AuditRecord, record
from .lifecycle import end_offer
from .ports import Transactions
from .rules import RulesLookup, RulesService


class MerchantStanding(Protocol):
    """What merchant_standing needs (SQL: the db adapter's queries/merchants.py)."""

    def merchant_status(self, merchant_id: str, *, hold: bool = False) -> str | None: ...


class LiveOffers(Protocol):
    """What withdraw_live_offers needs (SQL: the db adapter's queries/merchants.py)."""

    def live_offers_of_merchant(self, merchant_id: str, now: datetime) -> list[Any]: ...  # locked, by id


class MerchantQueries(MerchantStanding, LiveOffers, RulesLookup, AuditRecord, Protocol):
    """What MerchantService needs of the database (SQL: the db adapter's queries/merchants.py)."""

    def merchant(self, merchant_id: str, *, lock: bool = False) -> Any | None: ...
    def merchants(self, status: str | None = None) -> list[Any]: ...  # the oldest first
    def add_merchant(self, merchant_id: str, name: str, email: str, status: str, api_key_hash: str,
                     created_at: datetime) -> Any | None: ...  # None: the email is registered


def merchant_standing(q: MerchantStanding, merchant_id: str, *, hold: bool = True) -> str:
    """The merchant's status, with `hold` held for the rest of the transaction: a suspension
    (which locks the row) waits for it, or it waits for the suspension and reads it. So an
    offer posted or changed at the moment of a suspension is either withdrawn by it or refused."""
    status = q.merchant_status(merchant_id, hold=hold)
    if status is None:
        raise NotFound(Text("No such merchant."))
    return status


def withdraw_live_offers(q: LiveOffers, merchant_id: str, now: datetime) -> int:
    """Every live offer of the merchant's shops is withdrawn, as the shop would withdraw it:
    residents told get the withdrawal, pending pushes are dropped, holds end."""
    offers = q.live_offers_of_merchant(merchant_id, now)
    for offer in offers:
        end_offer(q, offer, offer_rules.CANCELLED, now)
    return len(offers)


def merchant_view(m) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "email": m.email, "status": m.status, "created_at": m.created_at,
            "erased_at": m.erased_at}


class MerchantService:
    def __init__(self, store: Transactions[MerchantQueries], clock: Clock, rules: RulesService):
        self.store = store
        self.clock = clock
        self.rules = rules

    def register(self, name: str, email: str) -> dict[str, Any]:
        api_key = new_secret(MERCHANT_PREFIX)
        email = email.strip().lower()
        with self.store.write() as q:
            rules = self.rules.current(q)
            m = q.add_merchant(
                new_id("mer"),
                name,
                email,
                PENDING if rules.merchant_approval_required else ACTIVE,
                hash_secret(api_key),
                self.clock(),
            )
            if m is None:  # the email is registered (a sign-up racing this one included)
                raise Conflict(
                    Text("A merchant with this email is already registered."),
                    {"email": [Text("is already registered.")]},
                )
        return {**merchant_view(m), "api_key": api_key}

    def get(self, merchant_id: str) -> dict[str, Any]:
        with self.store.read() as q:
            m = q.merchant(merchant_id)
            if m is None:
                raise NotFound(Text("No such merchant."))
            return merchant_view(m)

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        with self.store.read() as q:
            return [merchant_view(m) for m in q.merchants(status)]

    def set_status(self, merchant_id: str, status: str, actor: Actor | None = None) -> dict[str, Any]:
        """Approve (active) or suspend, kept in the operator's audit. Suspending withdraws the
        merchant's live offers at once."""
        now = self.clock()
        with self.store.write() as q:
            # Locked before the offers are read: a post or change in flight (merchant_standing)
            # commits first and its offer is withdrawn below, or it waits and is refused.
            m = q.merchant(merchant_id, lock=True)
            if m is None:
                raise NotFound(Text("No such merchant."))
            if m.erased_at is not None and status != SUSPENDED:
                # Its name, e-mail and key are gone: an account nobody can use, not to be listed as active.
                raise Conflict(Text("This merchant's personal data was erased: the account stays suspended."))
            before, m.status = m.status, status
            withdrawn = withdraw_live_offers(q, m.id, now) if status == SUSPENDED else 0
            record(q, actor, status_action(status), now, target=m.id,
                   detail={"status_before": before, "offers_withdrawn": withdrawn})
            return {**merchant_view(m), "offers_withdrawn": withdrawn}
