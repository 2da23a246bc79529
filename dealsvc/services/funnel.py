"""What alerts earned: a resident's report that they opened a push, and a shop's funnel (told ->
opened -> reserved -> collected) per offer, per distance ring and per posting hour, as its
merchant may see it (domain/funnel.py, domain/privacy.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..domain import funnel
from ..domain.clock import Clock
from ..domain.errors import NotFound
from ..domain.i18n import Text
from .auth import Principal
from .ports import Transactions


class FunnelKeeping(Protocol):
    def keep_funnel_stages_of_alerts_before(self, before: datetime) -> int: ...


class FunnelQueries(FunnelKeeping, Protocol):
    """What FunnelService needs of the database (SQL: queries/funnel.py in the database adapter,
    where the database counts each shop's funnel per offer and ring)."""

    def push_to_resident(self, notification_id: int, subscriber_id: str) -> Any | None: ...  # with opened_at
    def mark_push_opened(self, notification_id: int, now: datetime) -> None: ...
    def shop(self, shop_id: str) -> Any | None: ...
    def offers_posted_at_shop(self, shop_id: str) -> list[dict[str, Any]]: ...  # newest first
    def funnel_counts_of_shop(self, shop_id: str) -> list[funnel.Counted]: ...


def keep_counted(q: FunnelKeeping, alerts_before: datetime) -> int:
    """Before the retention period unlinks old alerts from their residents: each sent alert keeps
    what the shop's funnel counts of it, so the funnel reads the same afterwards."""
    return q.keep_funnel_stages_of_alerts_before(alerts_before)


# Notification ids are integers the database made; anything else (or out of its range) names nothing.
_MAX_ID = 2**31 - 1


def _notification_id(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 0 < int(value) <= _MAX_ID:
        raise NotFound(Text("No such notification."))
    return int(value)


class FunnelService:
    def __init__(self, store: Transactions[FunnelQueries], clock: Clock, secret: bytes):
        self.store = store
        self.clock = clock
        self.secret = secret  # the offsets of merchants' figures (domain/privacy.py)

    def opened(self, subscriber: Principal, notification_id: str) -> None:
        """The resident opened the push: kept once (the first time); any resident but the one it
        was sent to finds no such notification."""
        nid = _notification_id(notification_id)
        now = self.clock()
        with self.store.write() as q:
            found = q.push_to_resident(nid, subscriber.id)
            if found is None:
                raise NotFound(Text("No such notification."))
            if found.opened_at is None:
                q.mark_push_opened(nid, now)

    def exact(self, shop_id: str) -> tuple[list[dict[str, Any]], funnel.ShopFunnel]:
        """The shop's offers (newest first, with their posting hour on the shop's clock) and its
        exact funnel: for no merchant's eyes (the tests, and `for_merchant` below)."""
        with self.store.read() as q:
            shop = q.shop(shop_id)
            zone = (shop.timezone if shop is not None else None) or "UTC"
            offers = [{**offer, "hour": funnel.posting_hour(offer["created_at"], zone)} for offer in q.offers_posted_at_shop(shop_id)]
            counted = q.funnel_counts_of_shop(shop_id)
        result = funnel.tally({o["id"]: o["hour"] for o in offers}, counted)
        return offers, result

    def for_merchant(self, merchant: Principal, shop_id: str) -> dict[str, Any]:
        """The shop's funnel as its merchant may see it: every count of residents coarse (0: too
        few to show); how many offers were posted at an hour is the merchant's own, exact."""
        with self.store.read() as q:
            shop = q.shop(shop_id)
            if shop is None or shop.merchant_id != merchant.id:
                raise NotFound(Text("No such shop."))
        offers, found = self.exact(shop_id)

        def shown(t: funnel.Tally) -> dict[str, int]:
            return funnel.coarse(t.as_dict(), self.secret, shop_id)

        return {
            "shop_id": shop_id,
            "offers": [{**o, **shown(found.offers[o["id"]])} for o in offers],
            "rings": [
                {"ring": ring.key, "from_m": ring.low, "to_m": ring.high, **shown(found.rings[ring.key])}
                for ring in funnel.RINGS
            ],
            "hours": [
                {"hour": hour, "offers": found.offers_per_hour[hour], **shown(found.hours[hour])}
                for hour in sorted(found.hours)
            ],
        }
