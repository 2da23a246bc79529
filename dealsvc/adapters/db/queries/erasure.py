"""A merchant's personal data erased: the bulk changes to its shops and offers."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update

from ....domain.text import address_key
from ..models import GeocodeCache, Offer, Shop
from .base import OnSession


class ErasureQueries(OnSession):
    def shop_ids_of_merchant(self, merchant_id: str) -> list[str]:
        return list(self.session.scalars(select(Shop.id).where(Shop.merchant_id == merchant_id)))

    def pictures_of_shops(self, shop_ids: list[str]) -> set[str]:
        """The photo and thumbnail files the shops' offers name."""
        if not shop_ids:
            return set()
        pictures: set[str] = set()
        for photo, thumbnail in self.session.execute(select(Offer.photo, Offer.thumbnail).where(Offer.shop_id.in_(shop_ids))):
            pictures.update(name for name in (photo, thumbnail) if name)
        return pictures

    def forget_geocoded_addresses(self, shop_ids: list[str]) -> None:
        """The geocoder's cached answers (found or not) for the shops' addresses go, unless a
        shop not among them has the same address (domain/text.address_key). The other shops'
        addresses are read once, a few thousand at a time: an erasure is rare."""
        if not shop_ids:
            return
        keys = {address_key(a) for a in self.session.scalars(
            select(Shop.address).where(Shop.id.in_(shop_ids), Shop.address.is_not(None)))}
        if not keys:
            return
        others = self.session.execute(
            select(Shop.address).distinct().where(Shop.id.not_in(shop_ids), Shop.address.is_not(None))
            .execution_options(yield_per=5000)
        ).scalars()
        try:
            for address in others:
                keys.discard(address_key(address))
                if not keys:
                    return
        finally:
            others.close()
        self.session.execute(delete(GeocodeCache).where(GeocodeCache.query.in_(sorted(keys))))

    def erase_shops_and_offers_texts(self, shop_ids: list[str], shop_name: str, now: datetime) -> None:
        """The shops' names become `shop_name`, their addresses go, and so do their offers'
        descriptions, images and pictures (the rows, ids, prices and counts stay)."""
        if not shop_ids:
            return
        self.session.execute(update(Shop).where(Shop.id.in_(shop_ids)).values(name=shop_name, address=None, updated_at=now))
        self.session.execute(
            update(Offer).where(Offer.shop_id.in_(shop_ids))
            .values(description=None, image_url=None, photo=None, thumbnail=None)
            .execution_options(synchronize_session=False)
        )

    def count_offers_of_shops(self, shop_ids: list[str]) -> int:
        if not shop_ids:
            return 0
        return self.session.scalar(select(func.count()).select_from(Offer).where(Offer.shop_id.in_(shop_ids)))
