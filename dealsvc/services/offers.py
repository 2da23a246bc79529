"""Offers: posting within the operator's rules, reading, adjusting, and the deals near a point."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, case, func, select, text
from sqlalchemy.exc import IntegrityError

from ..adapters.db import Database
from ..adapters.db.models import Fanout, Notification, Offer, Reservation, Shop, UTCDateTime
from ..adapters.db.queries import Queries
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
from ..domain.outbox import PRICE_PREFIX, FanoutKind, PushKind, PushStatus
from . import idempotency
from .auth import Principal
from .lifecycle import end_lapsed_holds, end_offer, resume_offer
from .merchants import merchant_standing
from .rules import RulesService
from .shops import hours_view


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


def offer_view(o: Offer, now) -> dict[str, Any]:
    status = rules_of_offers.effective_status(o.status, o.expires_at, now)
    return {
        "id": o.id,
        "shop_id": o.shop_id,
        "title": o.title,
        "description": o.description,
        "category": o.category,
        "original_price_cents": o.original_price_cents,
        "price_cents": o.price_cents,
        "discount_pct": o.discount_pct,
        "currency": o.currency,
        "quantity": o.quantity,
        "quantity_left": o.quantity_left,
        "expires_at": o.expires_at,
        "status": status,
        **pictures(o.image_url, o.photo, o.thumbnail),
        "created_at": o.created_at,
        **price_schedule(o.price_steps, o.price_step, o.next_step_at, status == rules_of_offers.ACTIVE),
    }


class OfferService:
    def __init__(self, db: Database, clock: Clock, rules: RulesService, figures_secret: bytes,
                 shop_index: ShopIndex | None = None):
        self.db = db
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
            except IntegrityError:
                if attempt or not idempotency_key:
                    raise
        raise AssertionError("unreachable")

    def _create(self, merchant: Principal, data: dict[str, Any], key: str | None,
                photo: photos.Photo | None = None) -> dict[str, Any]:
        now = self.clock()
        scope = f"merchant:{merchant.id}:create-offer"
        with self.db.write() as s:
            cached = idempotency.replay(s, scope, key, data)
            if cached is not None:
                return cached
            merchant_rules.check_may_post(merchant_standing(Queries(s), merchant.id))
            shop = s.get(Shop, data["shop_id"])
            if shop is None or shop.merchant_id != merchant.id:
                raise NotFound(Text("No such shop."), {"shop_id": [Text("no such shop among yours.")]})
            rules = self.rules.current(Queries(s))
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
            offer = Offer(
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
            s.add(offer)
            s.flush()
            # The promise to tell the audience commits with the offer, or neither does.
            s.add(Fanout(offer_id=offer.id, kind=FanoutKind.OFFER, due_at=now, created_at=now))
            view = {**offer_view(offer, now), "capped_to_closing": cut.capped}
            idempotency.remember(s, scope, key, data, 201, view, now)
            return view

    def get(self, offer_id: str) -> dict[str, Any]:
        with self.db.read() as s:
            offer = s.get(Offer, offer_id)
            if offer is None:
                raise NotFound(Text("No such offer."))
            return offer_view(offer, self.clock())

    def _owned(self, s, merchant: Principal, offer_id: str, *, lock: bool = False) -> Offer:
        q = select(Offer).join(Shop).where(Offer.id == offer_id, Shop.merchant_id == merchant.id)
        if lock:
            q = q.with_for_update(of=Offer)
        offer = s.scalar(q)
        if offer is None:
            raise NotFound(Text("No such offer."))
        return offer

    def list_for_shop(self, merchant: Principal, shop_id: str) -> list[dict[str, Any]]:
        now = self.clock()
        with self.db.read() as s:
            shop = s.get(Shop, shop_id)
            if shop is None or shop.merchant_id != merchant.id:
                raise NotFound(Text("No such shop."))
            rows = s.scalars(
                select(Offer).where(Offer.shop_id == shop_id).order_by(Offer.created_at.desc())
            )
            return [offer_view(o, now) for o in rows]

    def update(self, merchant: Principal, offer_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        with self.db.write() as s:
            standing = merchant_standing(Queries(s), merchant.id)  # locked first, as a suspension locks
            offer = self._owned(s, merchant, offer_id, lock=True)
            # Authority before state: a suspended merchant's offers were withdrawn with the
            # suspension, and what it may not do at all is a 403, not a 409.
            merchant_rules.check_may_change_offer(standing, changes)
            status = rules_of_offers.effective_status(offer.status, offer.expires_at, now)
            rules_of_offers.check_changeable(status)
            # Holds whose time has come give their stock back before the quantity is weighed.
            end_lapsed_holds(s, offer, now)
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
                self._reschedule(s, offer, changes["price_steps"] or [], now)
            if status == rules_of_offers.ACTIVE and offer.status == rules_of_offers.SOLD_OUT:
                resume_offer(s, offer.id, now)
            if status != rules_of_offers.ACTIVE and offer.status == rules_of_offers.ACTIVE:
                end_offer(s, offer, status, now)
            elif status == rules_of_offers.CANCELLED and offer.status != rules_of_offers.CANCELLED:
                end_offer(s, offer, status, now)  # a sold-out offer withdrawn: its holds end
            offer.status = status
            offer.updated_at = now
            return offer_view(offer, now)

    def _reschedule(self, s, offer: Offer, requested: list[dict[str, Any]], now) -> None:
        """The steps not yet applied give way to `requested`, checked against the price now.
        Applied steps stay listed: their numbers name the pushes already sent about them."""
        applied = steps_from_json(offer.price_steps)[: offer.price_step]
        steps = schedule_price_steps(
            requested,
            self.rules.current(Queries(s)),
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
        with self.db.read_statements() as conn:
            rules = self.rules.current(Queries(conn))
            if radius_m is None:
                radius_m = rules.default_radius_m
            rules.check_radius(radius_m)
            # The index says which shops are in reach (kept in step in this very transaction);
            # the database says which of their offers are live. Shops are asked nearest first,
            # in growing batches, until `limit` offers are found: every shop after a batch is
            # farther than every shop in it, so no later offer can rank before those found.
            near = self.shop_index.near(conn, lat, lon, radius_m)
            ranked = _ranked_live_offers_pg if self.db.dialect == "postgresql" else _ranked_live_offers
            rows: list = []
            # A few shops more than `limit` usually hold `limit` live offers; every shop more
            # is one more index probe for the database (bench/api.py: 24 rather than 40 shops
            # cut its CPU time per request by 15 %).
            start, size = 0, max(limit + 4, 16)
            while start < len(near) and len(rows) < limit:
                stop = near.batch_end(start, size)
                rows += ranked(conn, near, start, stop, lat, lon, now, category, limit - len(rows))
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
        with self.db.read() as s:
            q = (
                select(Offer, Shop)
                .join(Shop, Offer.shop_id == Shop.id)
                .where(
                    Offer.status == rules_of_offers.ACTIVE,
                    Offer.expires_at > now,
                    Shop.lat.between(box.min_lat, box.max_lat),
                    Shop.lon.between(box.min_lon, box.max_lon),
                )
            )
            if category:
                q = q.where(Offer.category == category)
            found = []
            for offer, shop in s.execute(q):
                if geo.within(lat, lon, shop.lat, shop.lon, radius_m):
                    found.append((geo.approx_m(lat, lon, shop.lat, shop.lon), offer, shop))
            found.sort(key=lambda t: (t[0], t[1].expires_at, t[1].id))
            items = []
            for _, offer, shop in found[:limit]:
                item = offer_view(offer, now)
                item["shop"] = {
                    "id": shop.id,
                    "name": shop.name,
                    "address": shop.address,
                    "lat": shop.lat,
                    "lon": shop.lon,
                    **hours_view(shop.opening_hours, shop.timezone, now),
                }
                item["distance_m"] = round(geo.distance_m(lat, lon, shop.lat, shop.lon), 1)
                items.append(item)
            return items

    def stats(self, merchant: Principal, offer_id: str) -> dict[str, int]:
        """Who was reached: residents matched, and what became of their pushes, as the merchant may
        see them (privacy.coarse, keyed by the shop: 0 is too few to show); what was reserved
        and collected is the merchant's own business and exact."""
        with self.db.read() as s:
            shop_id = self._owned(s, merchant, offer_id).shop_id
        exact = self.counts(offer_id)
        return {
            name: count if name in ("reserved", "collected") else privacy.coarse(count, self.figures_secret, privacy.shop_key(shop_id))
            for name, count in exact.items()
        }

    def counts(self, offer_id: str) -> dict[str, int]:
        """The exact figures behind `stats`, for no merchant's eyes (the tests of the pipeline)."""
        with self.db.read() as s:
            counts = dict(
                s.execute(
                    select(Notification.status, func.count())
                    .where(Notification.offer_id == offer_id, Notification.kind == PushKind.OFFER)
                    .group_by(Notification.status)
                ).all()
            )
            # Residents who opened an alert or a price drop of it (services/funnel.py).
            opened = s.scalar(
                select(func.count(Notification.subscriber_pk.distinct())).where(
                    Notification.offer_id == offer_id,
                    Notification.kind != PushKind.WITHDRAW,
                    Notification.opened_at.is_not(None),
                )
            )
            price_drops = s.scalar(
                select(func.count()).where(
                    Notification.offer_id == offer_id,
                    Notification.kind.like(f"{PRICE_PREFIX}%"),
                    Notification.status == PushStatus.SENT,
                )
            )
            # A hold past its time counts as expired before the scheduler has written it down.
            status = case(
                (and_(Reservation.status == hold_rules.HELD, Reservation.expires_at <= self.clock()), hold_rules.EXPIRED),
                else_=Reservation.status,
            ).label("hold_status")
            held = dict(
                s.execute(
                    select(status, func.sum(Reservation.quantity))
                    .where(Reservation.offer_id == offer_id)
                    .group_by(status.name)
                ).all()
            )
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


_OFFER_COLUMNS = (
    Offer.id,
    Offer.shop_id,
    Offer.title,
    Offer.description,
    Offer.category,
    Offer.original_price_cents,
    Offer.price_cents,
    Offer.discount_pct,
    Offer.currency,
    Offer.quantity,
    Offer.quantity_left,
    Offer.expires_at,
    Offer.status,
    Offer.image_url,
    Offer.photo,
    Offer.thumbnail,
    Offer.created_at,
    Offer.price_steps,
    Offer.price_step,
    Offer.next_step_at,
)


def _rank(lat: float, lon: float, shop_lat: float, shop_lon: float) -> float:
    """The distance deals are ranked by (`_deals_near_by_box` ranks by the same)."""
    return geo.approx_m(lat, lon, shop_lat, shop_lon)


def _ranked_live_offers(conn, near: NearShops, start: int, stop: int, lat, lon, now, category, want: int) -> list:
    """The first `want` live offers of near.shops[start:stop], ranked (nearest, soonest to
    expire, id)."""
    rank = {shop[0]: _rank(lat, lon, shop[1], shop[2]) for shop in near.shops[start:stop]}
    shop_ids = list(rank)
    rows: list = []
    # SQLite takes at most 32,766 bound values in a statement.
    for chunk in range(0, len(shop_ids), 10_000):
        q = select(*_OFFER_COLUMNS).where(
            Offer.shop_id.in_(shop_ids[chunk : chunk + 10_000]),
            Offer.status == rules_of_offers.ACTIVE,
            Offer.expires_at > now,
        )
        if category:
            q = q.where(Offer.category == category)
        rows += conn.execute(q).all()
    rows.sort(key=lambda r: (rank[r.shop_id], r.expires_at, r.id))
    return rows[:want]


# The same on PostgreSQL, ranked and cut by the database: only the rows shown come back. The
# shops and their distances go in as two comma-separated lists (one statement text whatever
# their number, so psycopg prepares it once per connection; and joined in C, where psycopg's
# array dumper took 4 % of the request); repr() of a float reads back as the same float8. Shop
# ids hold no commas (new_id). "C" orders ids by code point, as Python does.
_RANKED_PG = (
    text(
        """
SELECT offers.id, offers.shop_id, offers.title, offers.description, offers.category,
       offers.original_price_cents, offers.price_cents, offers.discount_pct, offers.currency,
       offers.quantity, offers.quantity_left, offers.expires_at, offers.status, offers.image_url,
       offers.photo, offers.thumbnail, offers.created_at, offers.price_steps, offers.price_step, offers.next_step_at
FROM unnest(string_to_array(:shop_ids, ','), CAST(string_to_array(:distances, ',') AS float8[]))
     AS near (shop_id, d)
JOIN offers ON offers.shop_id = near.shop_id
WHERE offers.status = :active AND offers.expires_at > :now
  AND (CAST(:category AS varchar) IS NULL OR offers.category = :category)
ORDER BY near.d, offers.expires_at, offers.id COLLATE "C"
LIMIT :want
"""
    )
    .bindparams(bindparam("now", type_=UTCDateTime()))
    .columns(*_OFFER_COLUMNS)
)


def _ranked_live_offers_pg(conn, near: NearShops, start: int, stop: int, lat, lon, now, category, want: int) -> list:
    batch = near.shops[start:stop]
    if near.near_ties(start, stop):
        distances = [_rank(lat, lon, shop[1], shop[2]) for shop in batch]
    else:
        # The index's distances order these shops as _rank would: they differ from it in the
        # last bits only, and no two shops here (but those at one place) are that close.
        distances = near.distances[start:stop].tolist()
    return conn.execute(
        _RANKED_PG,
        {
            "shop_ids": ",".join([shop[0] for shop in batch]),
            "distances": ",".join(map(repr, distances)),
            "active": rules_of_offers.ACTIVE,
            "now": now,
            "category": category,
            "want": want,
        },
    ).all()


def _deal_items(rows, shops: dict[str, tuple], lat: float, lon: float, now) -> list[dict[str, Any]]:
    """The listing from ranked rows (_OFFER_COLUMNS) and the index's shops, the distance of
    each shop computed once."""
    shown: dict[str, float] = {}
    open_now: dict[str, dict[str, Any]] = {}
    items = []
    for (offer_id, shop_id, title, description, category, original_price_cents, price_cents, discount_pct,
         currency, quantity, quantity_left, expires_at, status, image_url, photo, thumbnail, created_at,
         price_steps, price_step, next_step_at) in rows:
        _, shop_lat, shop_lon, shop_name, shop_address, shop_hours, shop_zone = shops[shop_id]
        distance = shown.get(shop_id)
        if distance is None:
            distance = shown[shop_id] = geo.distance_shown_m(lat, lon, shop_lat, shop_lon)
            open_now[shop_id] = hours_view(shop_hours, shop_zone, now)
        status = rules_of_offers.effective_status(status, expires_at, now)
        items.append(
            {
                "id": offer_id,
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
                "shop": {"id": shop_id, "name": shop_name, "address": shop_address, "lat": shop_lat, "lon": shop_lon,
                         **open_now[shop_id]},
                "distance_m": distance,
            }
        )
    return items
