"""The operator's routes: rules, their history, merchants, and the reach of a point."""
from __future__ import annotations

from ..services.auth import OPERATOR
from .audit import api_operator
from .common import auth, errors, services
from .problems import Blueprint
from .schemas import (
    MerchantErasedSchema,
    MerchantListSchema,
    MerchantModeratedSchema,
    MerchantQuerySchema,
    MerchantStatusSchema,
    ReachQuerySchema,
    ReachSchema,
    RuleHistorySchema,
    RulesSchema,
    RulesUpdateSchema,
)

blp = Blueprint("admin", __name__, url_prefix="/api/v1/admin", description="Operator")


@blp.route("/rules", methods=["GET"])
@auth(blp, OPERATOR)
@blp.response(200, RulesSchema)
def get_rules(principal):
    """The rules in force."""
    return services().rules.current().as_dict()


@blp.route("/rules", methods=["PUT"])
@auth(blp, OPERATOR)
@blp.arguments(RulesUpdateSchema)
@blp.response(200, RulesSchema)
@errors(blp, 422)
def put_rules(data, principal):
    """Change rules (any subset); they apply to the next request, no restart."""
    return services().rules.update(data, api_operator()).as_dict()


@blp.route("/rules/history", methods=["GET"])
@auth(blp, OPERATOR)
@blp.response(200, RuleHistorySchema)
def rules_history(principal):
    """Every change of a rule, newest first, with its time and old and new values."""
    return {"items": services().rules.history()}


@blp.route("/reach", methods=["GET"])
@auth(blp, OPERATOR)
@blp.arguments(ReachQuerySchema, location="query")
@blp.response(200, ReachSchema)
def reach(query, principal):
    """How many active residents an offer at this point would reach now; with `quantity`, the
    waves it would be told in (followers of a shop are not counted: no shop is named)."""
    answer = {
        "lat": query["lat"], "lon": query["lon"],
        "subscribers": services().figures.reach(query["lat"], query["lon"], query.get("category")),
    }
    if "quantity" in query:
        answer["waves"] = services().figures.waves(query["lat"], query["lon"], query["quantity"], query.get("category"))
    return answer


@blp.route("/merchants", methods=["GET"])
@auth(blp, OPERATOR)
@blp.arguments(MerchantQuerySchema, location="query")
@blp.response(200, MerchantListSchema)
def list_merchants(query, principal):
    """Merchants, optionally by status (for example the pending ones)."""
    return {"items": services().merchants.list(query.get("status"))}


@blp.route("/merchants/<merchant_id>", methods=["PATCH"])
@auth(blp, OPERATOR)
@blp.arguments(MerchantStatusSchema)
@blp.response(200, MerchantModeratedSchema)
@errors(blp, 404, 409)
def moderate_merchant(data, merchant_id, principal):
    """Approve (active) or suspend a merchant; suspending withdraws its live offers at once (the
    residents told get the withdrawal). 409 when approving a merchant whose personal data was erased."""
    return services().merchants.set_status(merchant_id, data["status"], api_operator())


@blp.route("/merchants/<merchant_id>/erase", methods=["POST"])
@auth(blp, OPERATOR)
@blp.response(200, MerchantErasedSchema)
@errors(blp, 404)
def erase_merchant(merchant_id, principal):
    """Erase a merchant's personal data: its name and contact e-mail, its shops' names and
    addresses, its offers' descriptions and pictures. The account is suspended (its live offers
    withdrawn) and can no longer sign in; ids, categories, prices, places and every count stay, so
    offers' stats and the operator's figures are unchanged. Erasing again changes nothing."""
    return services().erasure.erase_merchant(merchant_id, api_operator())
