"""Residents' favourite shops: follow, list and unfollow, each resident their own only."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..domain.clock import Clock
from ..domain.errors import NotFound, Unprocessable
from ..domain.i18n import Text
from .auth import Principal
from .ports import Transactions
from .subscribers import SubscriberLookup, own_subscriber

# A favourite's offers reach the resident from up to max_radius_m away: an unbounded list would
# turn a follower into a city-wide audience for every shop.
MAX_FAVORITES = 50


class FavoriteQueries(SubscriberLookup, Protocol):
    """What FavoriteService needs of the database (SQL: adapters/db/queries/favorites.py)."""

    def favorites_of(self, subscriber_pk: int) -> list[tuple[Any, Any]]: ...  # (favorite, shop), oldest first
    def favorite(self, subscriber_pk: int, shop_id: str) -> Any | None: ...
    def count_favorites(self, subscriber_pk: int) -> int: ...
    def add_favorite(self, subscriber_pk: int, shop_id: str, now: datetime) -> Any: ...
    def remove_favorite(self, favorite: Any) -> None: ...
    def shop(self, shop_id: str) -> Any | None: ...


def favorite_view(favorite, shop) -> dict[str, Any]:
    return {"shop_id": shop.id, "name": shop.name, "category": shop.category, "created_at": favorite.created_at}


def favorites_of(q: FavoriteQueries, subscriber_pk: int) -> list[dict[str, Any]]:
    """The resident's favourites, the oldest first (the export's order; the list shows them newest first)."""
    return [favorite_view(favorite, shop) for favorite, shop in q.favorites_of(subscriber_pk)]


class FavoriteService:
    def __init__(self, store: Transactions[FavoriteQueries], clock: Clock):
        self.store = store
        self.clock = clock

    def list(self, principal: Principal, subscriber_id: str) -> dict[str, Any]:
        with self.store.read() as q:
            sub = own_subscriber(q, principal, subscriber_id)
            items = sorted(favorites_of(q, sub.pk), key=lambda item: item["shop_id"])
            return {"items": sorted(items, key=lambda item: item["created_at"], reverse=True)}  # newest first

    def follow(self, principal: Principal, subscriber_id: str, shop_id: str) -> tuple[dict[str, Any], bool]:
        """The favourite, and whether it is new: following again changes nothing."""
        now = self.clock()
        with self.store.write() as q:
            # The lock queues a resident's concurrent follows, so the cap and the
            # already-followed check cannot both be passed by two requests at once.
            sub = own_subscriber(q, principal, subscriber_id, lock=True)
            shop = q.shop(shop_id)
            if shop is None:
                raise NotFound(Text("No such shop."), {"shop_id": [Text("no shop has this id.")]})
            favorite = q.favorite(sub.pk, shop.id)
            if favorite is not None:
                return favorite_view(favorite, shop), False
            if q.count_favorites(sub.pk) >= MAX_FAVORITES:
                raise Unprocessable(
                    Text("You follow {n} shops already, the most there may be.", n=MAX_FAVORITES),
                    {"shop_id": [Text("cannot be followed: at most {n} favourite shops; unfollow one first.", n=MAX_FAVORITES)]},
                )
            return favorite_view(q.add_favorite(sub.pk, shop.id, now), shop), True

    def unfollow(self, principal: Principal, subscriber_id: str, shop_id: str) -> None:
        with self.store.write() as q:
            sub = own_subscriber(q, principal, subscriber_id, lock=True)
            favorite = q.favorite(sub.pk, shop_id)
            if favorite is None:
                raise NotFound(Text("You do not follow this shop."), {"shop_id": [Text("is not among your favourite shops.")]})
            q.remove_favorite(favorite)
