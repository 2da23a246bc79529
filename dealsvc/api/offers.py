"""Offers: posting, reading, adjusting, and the deals near a point."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import jsonify

from ..services.auth import MERCHANT
from .common import auth, errors, services
from .media_urls import absolute
from .problems import Blueprint
from .schemas import (
    DealListSchema,
    DealsQuerySchema,
    IdempotencyHeaderSchema,
    OfferCreateSchema,
    OfferCreatedSchema,
    OfferListSchema,
    OfferPatchSchema,
    OfferSchema,
    OfferStatsSchema,
    ShopOffersQuerySchema,
)

blp = Blueprint("offers", __name__, url_prefix="/api/v1", description="Offers and nearby deals")


@blp.route("/offers", methods=["POST"])
@auth(blp, MERCHANT)
@blp.arguments(IdempotencyHeaderSchema, location="headers")
@blp.arguments(OfferCreateSchema)
@blp.response(201, OfferCreatedSchema)
@errors(blp, 404, 422)
def create_offer(headers, data, principal):
    """Post an offer for one of your shops, within the operator's rules; 403 unless the
    merchant is active (pending or suspended).

    An offer that would outlive the shop's closing time (its `opening_hours`) is cut to closing
    time and answered with `capped_to_closing: true`, unless `beyond_closing` is true; cut so
    short that it breaks `min_offer_lifetime_s`, it is a 422 keyed `expires_at`. Posted while the
    shop is closed, its alerts go out when the shop opens."""
    return services().offers.create(principal, data, headers.get("idempotency_key"))


@blp.route("/offers", methods=["GET"])
@auth(blp, MERCHANT)
@blp.arguments(ShopOffersQuerySchema, location="query")
@blp.response(200, OfferListSchema)
@errors(blp, 404)
def list_offers(query, principal):
    """The offers of one of your shops, newest first."""
    return {"items": services().offers.list_for_shop(principal, query["shop_id"])}


@blp.route("/offers/<offer_id>", methods=["GET"])
@blp.response(200, OfferSchema)
@errors(blp, 404)
def get_offer(offer_id):
    """An offer (public)."""
    return services().offers.get(offer_id)


@blp.route("/offers/<offer_id>", methods=["PATCH"])
@auth(blp, MERCHANT)
@blp.arguments(OfferPatchSchema)
@blp.response(200, OfferSchema)
@errors(blp, 404, 409, 422)
def patch_offer(data, offer_id, principal):
    """Adjust the quantity, mark it sold out, withdraw it, or schedule its lower prices. A
    suspended merchant may only withdraw (`{"status": "cancelled"}`): anything else is a 403."""
    return services().offers.update(principal, offer_id, data)


@blp.route("/offers/<offer_id>/stats", methods=["GET"])
@auth(blp, MERCHANT)
@blp.response(200, OfferStatsSchema)
@errors(blp, 404)
def offer_stats(offer_id, principal):
    """Who was reached: matched residents, what became of their pushes, and the waves they were
    told in (owner only). Counts of residents are coarse: 0 means too few to show, others are
    rounded with a secret offset, so that no figure can locate a resident."""
    figures = services().offers.stats(principal, offer_id)  # 404 unless the caller's
    offer = services().offers.get(offer_id)
    told = services().figures.shop_waves_told([offer])[offer_id]
    return {**figures, "waves": told["waves"], "next_wave_at": told["next_at"]}


@blp.route("/deals", methods=["GET"])
# An instance: given the class, webargs builds a new schema for every request (4 % of this one).
@blp.arguments(DealsQuerySchema(), location="query")
@blp.response(200, DealListSchema)
@errors(blp, 422)
def deals(query):
    """Active offers of the shops within radius_m of a point, nearest first (public)."""
    items = services().offers.deals_near(
        query["lat"], query["lon"], query.get("radius_m"), query.get("category"), query["limit"]
    )
    # The busiest route: DealListSchema().dump took more time than finding the deals (1.7 ms
    # for 20 deals, measured by bench/api.py --profile), so the listing is dumped by hand,
    # field for field what the schema dumps (tests/integration/test_deals_index.py holds the two equal);
    # the schema still documents the answer.
    return jsonify({"items": [dump_deal(item) for item in items]})


def _utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def dump_deal(d: dict) -> dict:
    """What DealSchema().dump(d) gives, for the dicts OfferService.deals_near makes."""
    shop = d["shop"]
    return {
        "id": d["id"],
        "shop_id": d["shop_id"],
        "title": d["title"],
        "description": d["description"],
        "category": d["category"],
        "original_price_cents": int(d["original_price_cents"]),
        "price_cents": int(d["price_cents"]),
        "discount_pct": float(d["discount_pct"]),
        "currency": d["currency"],
        "quantity": int(d["quantity"]),
        "quantity_left": int(d["quantity_left"]),
        "expires_at": _utc(d["expires_at"]),
        "status": d["status"],
        "image_url": absolute(d["image_url"]),
        "thumbnail_url": absolute(d["thumbnail_url"]),
        "created_at": _utc(d["created_at"]),
        "price_steps": [
            {
                "at": _utc(step["at"]),
                "price_cents": int(step["price_cents"]),
                "discount_pct": float(step["discount_pct"]),
                "applied": bool(step["applied"]),
            }
            for step in d["price_steps"]
        ],
        "next_price_at": None if d["next_price_at"] is None else _utc(d["next_price_at"]),
        "shop": {
            "id": shop["id"],
            "name": shop["name"],
            "address": shop["address"],
            "lat": float(shop["lat"]),
            "lon": float(shop["lon"]),
            "open_now": shop["open_now"],
            "open_until": None if shop["open_until"] is None else _utc(shop["open_until"]),
            "opens_at": None if shop["opens_at"] is None else _utc(shop["opens_at"]),
        },
        "distance_m": float(d["distance_m"]),
    }
