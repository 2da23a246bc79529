"""Merchants and their shops."""
from __future__ import annotations

from ..services.auth import MERCHANT
from .common import auth, errors, services
from .limits import MERCHANTS, rate_limited
from .problems import Blueprint
from .schemas import (
    MerchantCreateSchema,
    MerchantCreatedSchema,
    MerchantSchema,
    ShopCreateSchema,
    ShopListSchema,
    ShopPatchSchema,
    ShopSchema,
)

blp = Blueprint("merchants", __name__, url_prefix="/api/v1", description="Merchants and their shops")


@blp.route("/merchants", methods=["POST"])
@rate_limited(blp, MERCHANTS)
@blp.arguments(MerchantCreateSchema)
@blp.response(201, MerchantCreatedSchema)
@errors(blp, 409)
def register_merchant(data):
    """Sign up as a merchant; the api_key is shown only in this answer."""
    return services().merchants.register(data["name"], data["email"])


@blp.route("/merchants/me", methods=["GET"])
@auth(blp, MERCHANT)
@blp.response(200, MerchantSchema)
def my_account(principal):
    """The calling merchant's account (status: active, pending or suspended)."""
    return services().merchants.get(principal.id)


@blp.route("/shops", methods=["POST"])
@auth(blp, MERCHANT)
@blp.arguments(ShopCreateSchema)
@blp.response(201, ShopSchema)
@errors(blp, 422, 503)
def create_shop(data, principal):
    """Add a shop; with an address and no coordinates the address is geocoded. 403 for a
    suspended merchant."""
    return services().shops.create(principal, data)


@blp.route("/shops", methods=["GET"])
@auth(blp, MERCHANT)
@blp.response(200, ShopListSchema)
def my_shops(principal):
    """The calling merchant's shops."""
    return {"items": services().shops.list_for(principal)}


@blp.route("/shops/<shop_id>", methods=["GET"])
@blp.response(200, ShopSchema)
@errors(blp, 404)
def get_shop(shop_id):
    """A shop (public)."""
    return services().shops.get(shop_id)


@blp.route("/shops/<shop_id>", methods=["PATCH"])
@auth(blp, MERCHANT)
@blp.arguments(ShopPatchSchema)
@blp.response(200, ShopSchema)
@errors(blp, 404)
def patch_shop(data, shop_id, principal):
    """Change your shop's `opening_hours` (null: unknown, counted as always open). Syntax that
    is not OpenStreetMap's `opening_hours` is a 400 keyed `opening_hours`."""
    return services().shops.update(principal, shop_id, data)
