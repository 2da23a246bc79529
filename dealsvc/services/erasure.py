"""A merchant's personal data erased on the operator's word (GDPR art. 17): the contact e-mail,
the name (often a person's), the shops' names and addresses and the offers' free texts and
pictures go; the rows, their ids, categories, prices, places and every count stay, so the
offers' stats and the operator's figures read as before. The account can no longer sign in."""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update

from ..adapters.db import Database
from ..adapters.db.models import Merchant, Offer, Shop, WebSession
from ..domain.audit import Action, Actor
from ..domain.clock import Clock
from ..domain.credentials import MERCHANT_PREFIX, hash_secret, new_secret
from ..domain.errors import NotFound
from ..domain.i18n import Text
from ..domain.merchants import SUSPENDED
from ..domain.photos import MediaStore
from .audit import record
from .photos import drop_unused
from ..adapters.db.store import Store
from .auth import MERCHANT
from .merchants import withdraw_live_offers

# What an erased name reads: no words (they would be in one language), nothing of the person.
ERASED_NAME = "—"


def erased_email(merchant_id: str) -> str:
    """Unique (the column is) and undeliverable (RFC 2606's .invalid)."""
    return f"{merchant_id}@erased.invalid"


class ErasureService:
    def __init__(self, db: Database, clock: Clock, media: MediaStore):
        self.db = db
        self.clock = clock
        self.media = media

    def erase_merchant(self, merchant_id: str, actor: Actor | None = None) -> dict[str, Any]:
        """Erase once, kept in the operator's audit; erasing again changes nothing and answers
        the same."""
        now = self.clock()
        pictures: set[str] = set()
        with self.db.write() as s:
            m = s.scalar(select(Merchant).where(Merchant.id == merchant_id).with_for_update())
            if m is None:
                raise NotFound(Text("No such merchant."))
            shop_ids = list(s.scalars(select(Shop.id).where(Shop.merchant_id == m.id)))
            if m.erased_at is None:
                # As a suspension: its live offers are withdrawn (the residents told are told).
                withdrawn = withdraw_live_offers(s, m.id, now)
                m.status = SUSPENDED
                m.name = ERASED_NAME
                m.email = erased_email(m.id)
                m.api_key_hash = hash_secret(new_secret(MERCHANT_PREFIX))
                m.erased_at = now
                record(s, actor, Action.MERCHANT_ERASED, now, target=m.id)
                s.execute(delete(WebSession).where(WebSession.role == MERCHANT, WebSession.subject == m.id))
                if shop_ids:
                    for photo, thumbnail in s.execute(select(Offer.photo, Offer.thumbnail).where(Offer.shop_id.in_(shop_ids))):
                        pictures.update(name for name in (photo, thumbnail) if name)
                    s.execute(update(Shop).where(Shop.id.in_(shop_ids)).values(name=ERASED_NAME, address=None, updated_at=now))
                    s.execute(
                        update(Offer).where(Offer.shop_id.in_(shop_ids))
                        .values(description=None, image_url=None, photo=None, thumbnail=None)
                        .execution_options(synchronize_session=False)
                    )
            else:
                withdrawn = 0
            offers = s.scalar(select(func.count()).select_from(Offer).where(Offer.shop_id.in_(shop_ids))) if shop_ids else 0
            answer = {
                "id": m.id,
                "status": m.status,
                "erased_at": m.erased_at,
                "shops": len(shop_ids),
                "offers": offers,
                "offers_withdrawn": withdrawn,
            }
        drop_unused(Store(self.db), self.media, pictures)  # ports: until ErasureService is given the store
        return answer
