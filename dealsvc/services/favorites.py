"""Residents' favourite shops: follow, list and unfollow, each resident their own only."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..adapters.db import Database
from ..adapters.db.models import Favorite, Shop
from ..domain.clock import Clock
from ..domain.errors import NotFound, Unprocessable
from ..domain.i18n import Text
from .auth import Principal
from .subscribers import own_subscriber

# A favourite's offers reach the resident from up to max_radius_m away: an unbounded list would
# turn a follower into a city-wide audience for every shop.
MAX_FAVORITES = 50


def favorite_view(favorite: Favorite, shop: Shop) -> dict[str, Any]:
    return {"shop_id": shop.id, "name": shop.name, "category": shop.category, "created_at": favorite.created_at}


class FavoriteService:
    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def list(self, principal: Principal, subscriber_id: str) -> dict[str, Any]:
        with self.db.read() as s:
            sub = own_subscriber(s, principal, subscriber_id)
            rows = s.execute(
                select(Favorite, Shop)
                .join(Shop, Shop.id == Favorite.shop_id)
                .where(Favorite.subscriber_pk == sub.pk)
                .order_by(Favorite.created_at.desc(), Favorite.shop_id)
            ).all()
            return {"items": [favorite_view(favorite, shop) for favorite, shop in rows]}

    def follow(self, principal: Principal, subscriber_id: str, shop_id: str) -> tuple[dict[str, Any], bool]:
        """The favourite, and whether it is new: following again changes nothing."""
        now = self.clock()
        with self.db.write() as s:
            # The lock queues a resident's concurrent follows, so the cap and the
            # already-followed check cannot both be passed by two requests at once.
            sub = own_subscriber(s, principal, subscriber_id, lock=True)
            shop = s.get(Shop, shop_id)
            if shop is None:
                raise NotFound(Text("No such shop."), {"shop_id": [Text("no shop has this id.")]})
            favorite = s.get(Favorite, (sub.pk, shop.id))
            if favorite is not None:
                return favorite_view(favorite, shop), False
            count = s.scalar(select(func.count()).select_from(Favorite).where(Favorite.subscriber_pk == sub.pk))
            if count >= MAX_FAVORITES:
                raise Unprocessable(
                    Text("You follow {n} shops already, the most there may be.", n=MAX_FAVORITES),
                    {"shop_id": [Text("cannot be followed: at most {n} favourite shops; unfollow one first.", n=MAX_FAVORITES)]},
                )
            favorite = Favorite(subscriber_pk=sub.pk, shop_id=shop.id, created_at=now)
            s.add(favorite)
            return favorite_view(favorite, shop), True

    def unfollow(self, principal: Principal, subscriber_id: str, shop_id: str) -> None:
        with self.db.write() as s:
            sub = own_subscriber(s, principal, subscriber_id, lock=True)
            favorite = s.get(Favorite, (sub.pk, shop_id))
            if favorite is None:
                raise NotFound(Text("You do not follow this shop."), {"shop_id": [Text("is not among your favourite shops.")]})
            s.delete(favorite)
