"""Shops."""
from __future__ import annotations

from ..models import Shop
from .base import OnSession


class ShopQueries(OnSession):
    def shop(self, shop_id: str) -> Shop | None:
        return self.session.get(Shop, shop_id)
