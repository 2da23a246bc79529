"""Reservations: a resident holds stock, the shop collects it with the code."""
from __future__ import annotations

from ..services.auth import MERCHANT, SUBSCRIBER
from .common import auth, errors, services
from .limits import RESERVATIONS, rate_limited
from .problems import Blueprint
from .schemas import (
    CollectSchema,
    IdempotencyHeaderSchema,
    ReservationCreateSchema,
    ReservationListSchema,
    ReservationSchema,
)

blp = Blueprint("reservations", __name__, url_prefix="/api/v1", description="Reservations")


@blp.route("/offers/<offer_id>/reservations", methods=["POST"])
@rate_limited(blp, RESERVATIONS)
@auth(blp, SUBSCRIBER)
@blp.arguments(IdempotencyHeaderSchema, location="headers")
@blp.arguments(ReservationCreateSchema)
@blp.response(201, ReservationSchema)
@errors(blp, 404, 409, 422)
def reserve(headers, data, offer_id, principal):
    """Hold some of an offer's stock until collected, released, or `expires_at` (operator rule
    hold_minutes); 409 when the offer is not active or not enough is left; 422 above the
    operator rules max_reservation_quantity (keyed `quantity`) or max_active_holds (keyed `holds`)."""
    return services().reservations.reserve(principal, offer_id, data["quantity"], headers.get("idempotency_key"))


@blp.route("/offers/<offer_id>/reservations", methods=["GET"])
@auth(blp, MERCHANT)
@blp.response(200, ReservationListSchema)
@errors(blp, 404)
def offer_reservations(offer_id, principal):
    """The reservations of one of your offers."""
    return {"items": services().reservations.list_for_offer(principal, offer_id)}


@blp.route("/subscribers/<subscriber_id>/reservations", methods=["GET"])
@auth(blp, SUBSCRIBER)
@blp.response(200, ReservationListSchema)
@errors(blp, 404)
def subscriber_reservations(subscriber_id, principal):
    """Your reservations, newest first (the last 50), each with its code and status: what
    "my reservations" shows on any device."""
    return {"items": services().reservations.list_for_subscriber(principal, subscriber_id)}


@blp.route("/reservations/<reservation_id>", methods=["GET"])
@auth(blp, SUBSCRIBER)
@blp.response(200, ReservationSchema)
@errors(blp, 404)
def get_reservation(reservation_id, principal):
    """Your reservation, with its code."""
    return services().reservations.get(principal, reservation_id)


@blp.route("/reservations/<reservation_id>", methods=["DELETE"])
@auth(blp, SUBSCRIBER)
@blp.response(200, ReservationSchema)
@errors(blp, 404, 409)
def release_reservation(reservation_id, principal):
    """Let go of your hold: the stock goes back to the offer while it can still sell."""
    return services().reservations.release(principal, reservation_id)


@blp.route("/reservations/<reservation_id>/collect", methods=["POST"])
@auth(blp, MERCHANT)
@blp.arguments(CollectSchema)
@blp.response(200, ReservationSchema)
@errors(blp, 404, 409, 422)
def collect_reservation(data, reservation_id, principal):
    """The resident is at the counter: mark the reservation collected with its code (409 once it
    has ended: released, expired, already collected)."""
    return services().reservations.collect(principal, reservation_id, data["code"])
