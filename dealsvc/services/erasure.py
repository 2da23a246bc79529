"""A merchant's personal data erased on the operator's word (GDPR art. 17): the contact e-mail,
the name (often a person's), the shops' names and addresses (with the geocoder's cached answers
for them, unless another shop has the same address) and the offers' free texts and pictures go;
the rows, their ids, categories, prices, places and every count stay, so the offers' stats and
the operator's figures read as before. The account can no longer sign in."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..domain.audit import Action, Actor
from ..domain.clock import Clock
from ..domain.credentials import MERCHANT_PREFIX, hash_secret, new_secret
from ..domain.errors import NotFound
from ..domain.i18n import Text
from ..domain.merchants import SUSPENDED
from ..domain.photos import MediaStore
from .audit import AuditRecord, record
from .photos import drop_unused
from .auth import MERCHANT
from .merchants import LiveOffers, withdraw_live_offers
from .ports import Transactions

# What an erased name reads: no words (they would be in one language), nothing of the person.
ERASED_NAME = "—"


class ErasureQueries(LiveOffers, AuditRecord, Protocol):
    """What ErasureService needs of the database (SQL: the db adapter's queries/erasure.py)."""

    def merchant(self, merchant_id: str, *, lock: bool = False) -> Any | None: ...
    def shop_ids_of_merchant(self, merchant_id: str) -> list[str]: ...
    def delete_web_sessions_of(self, role: str, subject: str) -> None: ...
    def pictures_of_shops(self, shop_ids: list[str]) -> set[str]: ...
    def forget_geocoded_addresses(self, shop_ids: list[str]) -> None: ...
    def erase_shops_and_offers_texts(self, shop_ids: list[str], shop_name: str, now: datetime) -> None: ...
    def count_offers_of_shops(self, shop_ids: list[str]) -> int: ...


def erased_email(merchant_id: str) -> str:
    """Unique (the column is) and undeliverable (RFC 2606's .invalid)."""
    return f"{merchant_id}@erased.invalid"


class ErasureService:
    def __init__(self, store: Transactions[ErasureQueries], clock: Clock, media: MediaStore):
        self.store = store
        self.clock = clock
        self.media = media

    def erase_merchant(self, merchant_id: str, actor: Actor | None = None) -> dict[str, Any]:
        """Erase once, kept in the operator's audit; erasing again changes nothing and answers
        the same."""
        now = self.clock()
        pictures: set[str] = set()
        with self.store.write() as q:
            m = q.merchant(merchant_id, lock=True)
            if m is None:
                raise NotFound(Text("No such merchant."))
            shop_ids = q.shop_ids_of_merchant(m.id)
            if m.erased_at is None:
                # As a suspension: its live offers are withdrawn (the residents told are told).
                withdrawn = withdraw_live_offers(q, m.id, now)
                m.status = SUSPENDED
                m.name = ERASED_NAME
                m.email = erased_email(m.id)
                m.api_key_hash = hash_secret(new_secret(MERCHANT_PREFIX))
                m.erased_at = now
                record(q, actor, Action.MERCHANT_ERASED, now, target=m.id)
                q.delete_web_sessions_of(MERCHANT, m.id)
                pictures = q.pictures_of_shops(shop_ids)
                # The geocoder's cache would keep the addresses (unless another shop is there too).
                q.forget_geocoded_addresses(shop_ids)
                q.erase_shops_and_offers_texts(shop_ids, ERASED_NAME, now)
            else:
                withdrawn = 0
            offers = q.count_offers_of_shops(shop_ids)
            answer = {
                "id": m.id,
                "status": m.status,
                "erased_at": m.erased_at,
                "shops": len(shop_ids),
                "offers": offers,
                "offers_withdrawn": withdrawn,
            }
        drop_unused(self.store, self.media, pictures)
        return answer
