"""A shop's funnel: what its offers' alerts earned, per offer, distance ring and posting hour."""
from __future__ import annotations

from marshmallow import fields

from ..domain import privacy
from ..domain.funnel import STAGES
from ..services.auth import MERCHANT
from .common import auth, errors, services
from .fields import UTCDateTime
from .problems import Blueprint
from .schemas import Out

blp = Blueprint("funnel", __name__, url_prefix="/api/v1", description="What alerts earned")

_COARSE = f"Residents (coarse: 0 is fewer than {privacy.FEW}; others rounded with a secret offset)."


class _Stages(Out):
    told = fields.Integer(required=True, metadata={"description": "Residents sent its alert. " + _COARSE})
    opened = fields.Integer(required=True, metadata={"description": "Of those told, who opened an alert or price drop. " + _COARSE})
    reserved = fields.Integer(required=True, metadata={"description": "Of those told, who reserved some. " + _COARSE})
    collected = fields.Integer(required=True, metadata={"description": "Of those told, who collected some. " + _COARSE})


class FunnelOfferSchema(_Stages):
    id = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    quantity = fields.Integer(required=True)
    created_at = UTCDateTime(required=True)
    hour = fields.Integer(required=True, metadata={"description": "The hour it was posted at, on the shop's clock (0–23)."})


class FunnelRingSchema(_Stages):
    ring = fields.String(required=True, metadata={"description": "0-250, 250-500, 500-1000, 1000-2000, 2000+"})
    from_m = fields.Integer(required=True, metadata={"description": "Residents told at this distance (m) or more ..."})
    to_m = fields.Integer(required=True, allow_none=True, metadata={"description": "... and less than this (null: no end)."})


class FunnelHourSchema(_Stages):
    hour = fields.Integer(required=True, metadata={"description": "Posting hour on the shop's clock (0–23)."})
    offers = fields.Integer(required=True, metadata={"description": "Offers posted at that hour (exact)."})


class ShopFunnelSchema(Out):
    """Told -> opened -> reserved -> collected: each stage counts residents of the stage before."""

    shop_id = fields.String(required=True)
    offers = fields.List(fields.Nested(FunnelOfferSchema), required=True, metadata={"description": "Newest first."})
    rings = fields.List(fields.Nested(FunnelRingSchema), required=True)
    hours = fields.List(fields.Nested(FunnelHourSchema), required=True,
                        metadata={"description": "Only the hours offers were posted at."})


assert set(STAGES) == set(_Stages._declared_fields)


@blp.route("/shops/<shop_id>/funnel", methods=["GET"])
@auth(blp, MERCHANT)
@blp.response(200, ShopFunnelSchema)
@errors(blp, 404)
def shop_funnel(shop_id, principal):
    """What the alerts of your shop's offers earned (owner only): told, opened, reserved and
    collected per offer, per distance ring and per posting hour."""
    return services().funnel.for_merchant(principal, shop_id)
