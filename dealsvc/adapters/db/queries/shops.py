"""Shops."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..models import Merchant, Shop
from .base import OnSession


class ShopQueries(OnSession):
    def shop(self, shop_id: str, *, lock: bool = False) -> Shop | None:
        """`lock`: held until the transaction ends."""
        return self.session.get(Shop, shop_id, with_for_update=True) if lock else self.session.get(Shop, shop_id)

    def shops_of_merchant(self, merchant_id: str) -> list[Shop]:
        """The merchant's shops, the oldest first."""
        return list(self.session.scalars(select(Shop).where(Shop.merchant_id == merchant_id).order_by(Shop.created_at)))

    def count_shops_of_merchant(self, merchant_id: str) -> int:
        return self.session.scalar(select(func.count()).select_from(Shop).where(Shop.merchant_id == merchant_id))

    def add_shop(self, **columns: Any) -> Shop:
        shop = Shop(**columns)
        self.session.add(shop)
        return shop

    def lock_merchant_row(self, merchant_id: str) -> None:
        """The merchant's row, locked (exclusively) until the transaction ends."""
        self.session.scalar(select(Merchant.id).where(Merchant.id == merchant_id).with_for_update())
