"""Offers: posting within the operator's rules, reading, adjusting, and the deals near a point."""
from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from ..adapters.spatial import NearShops, ShopIndex
from ..domain import geo, hours, photos, privacy
from ..domain import merchants as merchant_rules
from ..domain import offers as rules_of_offers
from ..domain import reservations as hold_rules
from ..domain.clock import Clock
from ..domain.credentials import new_id
from ..domain.errors import Conflict, NotFound
from ..domain.i18n import Text
from ..domain.pricing import price_offer, schedule_price_steps, steps_from_json, steps_to_json
from ..domain.outbox import FanoutKind, PushStatus
from . import idempotency
from .auth import Principal
from .idempotency import IdempotencyQueries
from .lifecycle import LifecycleQueries, end_lapsed_holds, end_offer, resume_offer
from .merchants import merchant_standing
from .ports import IntegrityConflict, Transactions
from .rules import RulesService
from .shops import hours_view


class OfferQueries(IdempotencyQueries, LifecycleQueries, Protocol):
    """What OfferService needs of the database (SQL: the offers queries of the database adapter).
    Offers and shops are rows with their columns as attributes, flushed at commit."""

    def shop(self, shop_id: str, *, lock: bool = False) -> Any | None: ...
    def offer(self, offer_id: str, *, lock: bool = False) -> Any | None: ...
    def merchants_offer(self, merchant_id: str, offer_id: str, *, lock: bool = False) -> Any | None: ...
    def offers_of_shop(self, shop_id: str) -> list[Any]: ...  # the newest first
    def add_offer(self, **columns: Any) -> Any: ...
    def live_offers_in_box(self, box: geo.Box, now: datetime, category: str | None) -> list[tuple[Any, Any]]: ...
    def offer_push_counts(self, offer_id: str) -> dict[str, int]: ...  # the alerts by status
    def offer_openers(self, offer_id: str) -> int: ...
    def offer_price_drops_sent(self, offer_id: str) -> int: ...
    def offer_held_quantities(self, offer_id: str, now: datetime) -> dict[str, int]: ...  # by hold status


class DealQueries(Protocol):
    """The deals listing's reads without a session (SQL: the deals queries of the database adapter)."""

    connection: Any  # for the shop index and the rules, which read on it

    def ranked_live_offers(self, near: NearShops, start: int, stop: int, lat: float, lon: float, now: datetime,
                           category: str | None, want: int) -> list[Any]: ...


class OfferStore(Transactions[OfferQueries], Protocol):
    def read_statements(self) -> AbstractContextManager[DealQueries]: ...


def price_schedule(stored, applied: int, next_step_at, live: bool) -> dict[str, Any]:
    """The offer's price_steps and next_price_at as the API shows them."""
    return {
        "price_steps": [
            {"at": step.at, "price_cents": step.price_cents, "discount_pct": step.discount_pct, "applied": i < applied}
            for i, step in enumerate(steps_from_json(stored))
        ],
        # A step never applies to an offer that is not live (a sold-out one may come back).
        "next_price_at": next_step_at if live else None,
    }


def pictures(image_url: str | None, photo: str | None, thumbnail: str | None) -> dict[str, Any]:
    """The offer's image_url (its photo's large version, else the link the shopkeeper gave) and
    thumbnail_url (the photo's thumbnail; None without a photo). A photo's are paths on this
    service (/media/...): pages use them as they are, the API makes them absolute."""
    return {
        "image_url": photos.media_url(None, photo) if photo else image_url,
        "thumbnail_url": photos.media_url(None, thumbnail),
    }


def offer_fields(id, shop_id, title, description, category, original_price_cents, price_cents, discount_pct,
                 currency, quantity, quantity_left, expires_at, status, image_url, photo, thumbnail, created_at,
                 price_steps, price_step, next_step_at, *, now) -> dict[str, Any]:
    """An offer as the API shows it, from its columns (the deals listing's rows, in this order):
    the one definition of an offer's public fields. offer_view reads them off a row of the
    offers table; a deal (deal_view) and the answer to a post add their own fields to it."""
    status = rules_of_offers.effective_status(status, expires_at, now)
    return {
        "id": id,
        "shop_id": shop_id,
        "title": title,
        "description": description,
        "category": category,
        "original_price_cents": original_price_cents,
        "price_cents": price_cents,
        "discount_pct": discount_pct,
        "currency": currency,
        "quantity": quantity,
        "quantity_left": quantity_left,
        "expires_at": expires_at,
        "status": status,
        **pictures(image_url, photo, thumbnail),
        "created_at": created_at,
        **price_schedule(price_steps, price_step, next_step_at, status == rules_of_offers.ACTIVE),
    }


def offer_view(o, now) -> dict[str, Any]:
    """offer_fields of a row of the offers table (or anything with its columns as attributes)."""
    return offer_fields(
        o.id, o.shop_id, o.title, o.description, o.category, o.original_price_cents, o.price_cents, o.discount_pct,
        o.currency, o.quantity, o.quantity_left, o.expires_at, o.status, o.image_url, o.photo, o.thumbnail,
        o.created_at, o.price_steps, o.price_step, o.next_step_at, now=now,
    )


def deal_view(offer: dict[str, Any], shop: dict[str, Any], distance_m: float) -> dict[str, Any]:
    """An offer in the deals listing: the offer's fields (offer_fields, extended here), what the
    listing shows of its shop (deal_shop_view) and its distance as shown (geo.distance_shown_m)."""
    offer["shop"] = shop
    offer["distance_m"] = distance_m
    return offer


def deal_shop_view(shop_id: str, name: str, address: str | None, lat: float, lon: float,
                   hours_now: dict[str, Any]) -> dict[str, Any]:
    """What the deals listing shows of a shop: less than shops.shop_view (no merchant, category,
    zone or hours as written), and its hours as they stand now (shops.hours_view)."""
    return {"id": shop_id, "name": name, "address": address, "lat": lat, "lon": lon, **hours_now}


class OfferService:
    def __init__(self, store: OfferStore, clock: Clock, rules: RulesService, figures_secret: bytes,
                 shop_index: ShopIndex | None = None):
        self.store = store
        self.clock = clock
        self.rules = rules
        self.figures_secret = figures_secret
        # None: the deals listing asks the database for the shops in a bounding box instead
        # (the alternative bench/api.py compares with).
        self.shop_index = shop_index

    def create(self, merchant: Principal, data: dict[str, Any], idempotency_key: str | None = None,
               photo: photos.Photo | None = None) -> dict[str, Any]:
        """Post an offer. With an idempotency key, a retry of the same request (a phone on a
        shaky connection) gets the first answer instead of posting the offer twice. A photo
        (already kept in the media store) comes with it, so its first pushes show it."""
        for attempt in range(2):
            try:
                return self._create(merchant, data, idempotency_key, photo)
            except IntegrityConflict:
                # A twin request with the same key committed first: replay its answer.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _create(self, merchant: Principal, data: dict[str, Any], key: str | None,
                photo: photos.Photo | None = None) -> dict[str, Any]:
        now = self.clock()
        scope = f"merchant:{merchant.id}:create-offer"
        with self.store.write() as q:
            cached = idempotency.replay(q, scope, key, data)
            if cached is not None:
                return cached
            merchant_rules.check_may_post(merchant_standing(q, merchant.id))
            shop = q.shop(data["shop_id"])
            if shop is None or shop.merchant_id != merchant.id:
                raise NotFound(Text("No such shop."), {"shop_id": [Text("no such shop among yours.")]})
            rules = self.rules.current(q)
            rules.check_expiry(data["expires_at"], now)
            cut = hours.cap_expiry(shop.opening_hours, shop.timezone, now, data["expires_at"],
                                   keep=bool(data.get("beyond_closing")))
            hours.check_long_enough(cut, shop.timezone, now, rules.min_offer_lifetime_s)
            expires_at = cut.expires_at
            price = price_offer(
                data["original_price_cents"],
                rules,
                discount_pct=data.get("discount_pct"),
                price_cents=data.get("price_cents"),
            )
            steps = schedule_price_steps(
                data.get("price_steps") or [],
                rules,
                original_cents=data["original_price_cents"],
                current_cents=price.price_cents,
                now=now,
                expires_at=expires_at,
            )
            offer = q.add_offer(
                id=new_id("off"),
                shop_id=shop.id,
                title=data["title"],
                description=data.get("description"),
                category=data["category"],
                original_price_cents=data["original_price_cents"],
                price_cents=price.price_cents,
                discount_pct=price.discount_pct,
                currency=data.get("currency", "EUR"),
                quantity=data["quantity"],
                quantity_left=data["quantity"],
                expires_at=expires_at,
                status=rules_of_offers.ACTIVE,
                image_url=data.get("image_url"),
                photo=photo.large_name if photo else None,
                thumbnail=photo.thumbnail_name if photo else None,
                created_at=now,
                updated_at=now,
                price_steps=steps_to_json(steps) or None,
                price_step=0,
                next_step_at=steps[0].at if steps else None,
            )
            # The promise to tell the audience commits with the offer, or neither does.
            q.add_fanout(offer.id, FanoutKind.OFFER, now)
            view = {**offer_view(offer, now), "capped_to_closing": cut.capped}
            idempotency.remember(q, scope, key, data, 201, view, now)
            return view

    def get(self, offer_id: str) -> dict[str, Any]:
        with self.store.read() as q:
            offer = q.offer(offer_id)
            if offer is None:
                raise NotFound(Text("No such offer."))
            return offer_view(offer, self.clock())

    @staticmethod
    def _owned(q: OfferQueries, merchant: Principal, offer_id: str, *, lock: bool = False):
        offer = q.merchants_offer(merchant.id, offer_id, lock=lock)
        if offer is None:
            raise NotFound(Text("No such offer."))
        return offer

    def list_for_shop(self, merchant: Principal, shop_id: str) -> list[dict[str, Any]]:
        now = self.clock()
        with self.store.read() as q:
            shop = q.shop(shop_id)
            if shop is None or shop.merchant_id != merchant.id:
                raise NotFound(Text("No such shop."))
            return [offer_view(o, now) for o in q.offers_of_shop(shop_id)]

    def update(self, merchant: Principal, offer_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        with self.store.write() as q:
            # Locked first, as a suspension locks.
            standing = merchant_standing(q, merchant.id)
            offer = self._owned(q, merchant, offer_id, lock=True)
            # Authority before state: a suspended merchant's offers were withdrawn with the
            # suspension, and what it may not do at all is a 403, not a 409.
            merchant_rules.check_may_change_offer(standing, changes)
            status = rules_of_offers.effective_status(offer.status, offer.expires_at, now)
            rules_of_offers.check_changeable(status)
            # Holds whose time has come give their stock back before the quantity is weighed.
            end_lapsed_holds(q, offer, now)
            status = rules_of_offers.effective_status(offer.status, offer.expires_at, now)
            if "quantity" in changes:
                offer.quantity, offer.quantity_left = rules_of_offers.new_quantity(
                    offer.quantity, offer.quantity_left, changes["quantity"]
                )
                status = rules_of_offers.status_for_stock(status, offer.quantity_left)
            if changes.get("status") == rules_of_offers.SOLD_OUT:
                offer.quantity, offer.quantity_left = rules_of_offers.withdraw_rest(
                    offer.quantity, offer.quantity_left
                )
                status = rules_of_offers.SOLD_OUT
            elif changes.get("status") == rules_of_offers.CANCELLED:
                status = rules_of_offers.CANCELLED
            if "price_steps" in changes:
                if status != rules_of_offers.ACTIVE:
                    raise Conflict(Text("The offer is {status}: only an active offer takes a schedule of prices.", status=rules_of_offers.STATUS_WORDS.get(status, status)))
                self._reschedule(q, offer, changes["price_steps"] or [], now)
            if status == rules_of_offers.ACTIVE and offer.status == rules_of_offers.SOLD_OUT:
                resume_offer(q, offer.id, now)
            if status != rules_of_offers.ACTIVE and offer.status == rules_of_offers.ACTIVE:
                end_offer(q, offer, status, now)
            elif status == rules_of_offers.CANCELLED and offer.status != rules_of_offers.CANCELLED:
                end_offer(q, offer, status, now)  # a sold-out offer withdrawn: its holds end
            offer.status = status
            offer.updated_at = now
            return offer_view(offer, now)

    def _reschedule(self, q: OfferQueries, offer, requested: list[dict[str, Any]], now) -> None:
        """The steps not yet applied give way to `requested`, checked against the price now.
        Applied steps stay listed: their numbers name the pushes already sent about them."""
        applied = steps_from_json(offer.price_steps)[: offer.price_step]
        steps = schedule_price_steps(
            requested,
            self.rules.current(q),
            original_cents=offer.original_price_cents,
            current_cents=offer.price_cents,
            now=now,
            expires_at=offer.expires_at,
        )
        offer.price_steps = steps_to_json(applied + steps) or None
        offer.next_step_at = steps[0].at if steps else None

    def deals_near(
        self, lat: float, lon: float, radius_m: int | None, category: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Active, unexpired offers of shops within radius_m (geodesic), nearest first (then
        the soonest to expire, then by id)."""
        if self.shop_index is None:
            return self._deals_near_by_box(lat, lon, radius_m, category, limit)
        now = self.clock()
        with self.store.read_statements() as q:
            rules = self.rules.current(q)
            if radius_m is None:
                radius_m = rules.default_radius_m
            rules.check_radius(radius_m)
            # The index says which shops are in reach (kept in step in this very transaction);
            # the database says which of their offers are live. Shops are asked nearest first,
            # in growing batches, until `limit` offers are found: every shop after a batch is
            # farther than every shop in it, so no later offer can rank before those found.
            near = self.shop_index.near(q.connection, lat, lon, radius_m)
            rows: list = []
            # A few shops more than `limit` usually hold `limit` live offers; every shop more
            # is one more index probe for the database (bench/api.py: 24 rather than 40 shops
            # cut its CPU time per request by 15 %).
            start, size = 0, max(limit + 4, 16)
            while start < len(near) and len(rows) < limit:
                stop = near.batch_end(start, size)
                rows += q.ranked_live_offers(near, start, stop, lat, lon, now, category, limit - len(rows))
                start, size = stop, size * 4
        # What the listing shows of a shop comes from the index, as fresh as its coordinates.
        shops = {shop[0]: shop for shop in near.shops[:start]}
        return _deal_items(rows, shops, lat, lon, now)

    def _deals_near_by_box(
        self, lat: float, lon: float, radius_m: int | None, category: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """The same answer from one SQL query on a bounding box of the shops, every live offer
        in the box loaded and checked (without the index)."""
        now = self.clock()
        rules = self.rules.current()
        if radius_m is None:
            radius_m = rules.default_radius_m
        rules.check_radius(radius_m)
        box = geo.reach_box(lat, lon, radius_m)
        with self.store.read() as q:
            found = []
            for offer, shop in q.live_offers_in_box(box, now, category):
                if geo.within(lat, lon, shop.lat, shop.lon, radius_m):
                    # Ranked by the distance the index path ranks by (the deals queries of the database adapter).
                    found.append((geo.approx_m(lat, lon, shop.lat, shop.lon), offer, shop))
            found.sort(key=lambda t: (t[0], t[1].expires_at, t[1].id))
            return [
                deal_view(
                    offer_view(offer, now),
                    deal_shop_view(shop.id, shop.name, shop.address, shop.lat, shop.lon,
                                   hours_view(shop.opening_hours, shop.timezone, now)),
                    geo.distance_shown_m(lat, lon, shop.lat, shop.lon),
                )
                for _, offer, shop in found[:limit]
            ]

    def stats(self, merchant: Principal, offer_id: str) -> dict[str, int]:
        """Who was reached: residents matched, and what became of their pushes, as the merchant may
        see them (privacy.coarse, keyed by the shop: 0 is too few to show); what was reserved
        and collected is the merchant's own business and exact."""
        with self.store.read() as q:
            shop_id = self._owned(q, merchant, offer_id).shop_id
        exact = self.counts(offer_id)
        return {
            name: count if name in ("reserved", "collected") else privacy.coarse(count, self.figures_secret, privacy.shop_key(shop_id))
            for name, count in exact.items()
        }

    def counts(self, offer_id: str) -> dict[str, int]:
        """The exact figures behind `stats`, for no merchant's eyes (the tests of the pipeline)."""
        with self.store.read() as q:
            counts = q.offer_push_counts(offer_id)
            opened = q.offer_openers(offer_id)
            price_drops = q.offer_price_drops_sent(offer_id)
            held = q.offer_held_quantities(offer_id, self.clock())
        return {
            "matched": sum(counts.values()),
            "sent": counts.get(PushStatus.SENT, 0),
            "failed": counts.get(PushStatus.FAILED, 0),
            "suppressed": counts.get(PushStatus.SUPPRESSED, 0),
            "opened": opened,
            "dropped": counts.get(PushStatus.DROPPED, 0),
            "pending": counts.get(PushStatus.PENDING, 0) + counts.get(PushStatus.SENDING, 0),
            "price_drops": price_drops,
            "reserved": held.get(hold_rules.HELD, 0),
            "collected": held.get(hold_rules.COLLECTED, 0),
        }


def _deal_items(rows, shops: dict[str, tuple], lat: float, lon: float, now) -> list[dict[str, Any]]:
    """The listing from ranked rows (DealQueries.ranked_live_offers: offer_fields' columns, in
    order) and the index's shops, what is shown of each shop computed once. The rows are read
    as tuples: by attribute, a row's 20 columns took longer than the rest of the listing."""
    shown: dict[str, tuple[dict[str, Any], float]] = {}
    items = []
    for row in rows:
        shop_id = row[1]
        seen = shown.get(shop_id)
        if seen is None:
            _, shop_lat, shop_lon, shop_name, shop_address, shop_hours, shop_zone = shops[shop_id]
            seen = shown[shop_id] = (
                deal_shop_view(shop_id, shop_name, shop_address, shop_lat, shop_lon, hours_view(shop_hours, shop_zone, now)),
                geo.distance_shown_m(lat, lon, shop_lat, shop_lon),
            )
        items.append(deal_view(offer_fields(*row, now=now), *seen))
    return items
