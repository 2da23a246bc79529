"""Residents' favourite shops."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from ..models import Favorite, Shop
from .base import OnSession


class FavoriteQueries(OnSession):
    def favorites_of(self, subscriber_pk: int) -> list[tuple[Favorite, Shop]]:
        """The resident's favourites with their shops, the oldest first."""
        return list(self.session.execute(
            select(Favorite, Shop)
            .join(Shop, Shop.id == Favorite.shop_id)
            .where(Favorite.subscriber_pk == subscriber_pk)
            .order_by(Favorite.created_at, Favorite.shop_id)
        ).all())

    def favorite(self, subscriber_pk: int, shop_id: str) -> Favorite | None:
        return self.session.get(Favorite, (subscriber_pk, shop_id))

    def count_favorites(self, subscriber_pk: int) -> int:
        return self.session.scalar(select(func.count()).select_from(Favorite).where(Favorite.subscriber_pk == subscriber_pk))

    def add_favorite(self, subscriber_pk: int, shop_id: str, now: datetime) -> Favorite:
        favorite = Favorite(subscriber_pk=subscriber_pk, shop_id=shop_id, created_at=now)
        self.session.add(favorite)
        return favorite

    def remove_favorite(self, favorite: Favorite) -> None:
        self.session.delete(favorite)
