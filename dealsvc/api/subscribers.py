"""Residents' devices: registration and their own settings."""
from __future__ import annotations

from ..services.auth import SUBSCRIBER
from .common import auth, errors, services
from .limits import SUBSCRIBERS, rate_limited
from .problems import Blueprint
from .schemas import SubscriberCreateSchema, SubscriberCreatedSchema, SubscriberPatchSchema, SubscriberSchema

blp = Blueprint("subscribers", __name__, url_prefix="/api/v1", description="Residents' devices")


@blp.route("/subscribers", methods=["POST"])
@rate_limited(blp, SUBSCRIBERS)
@blp.arguments(SubscriberCreateSchema)
@blp.response(201, SubscriberCreatedSchema)
@errors(blp, 422)
def register_subscriber(data):
    """Register a phone for alerts around a place; the secret is shown only in this answer."""
    return services().subscribers.register(data)


@blp.route("/subscribers/<subscriber_id>", methods=["GET"])
@auth(blp, SUBSCRIBER)
@blp.response(200, SubscriberSchema)
@errors(blp, 404)
def get_subscriber(subscriber_id, principal):
    """Your own subscription."""
    return services().subscribers.get(principal, subscriber_id)


@blp.route("/subscribers/<subscriber_id>", methods=["PATCH"])
@auth(blp, SUBSCRIBER)
@blp.arguments(SubscriberPatchSchema)
@blp.response(200, SubscriberSchema)
@errors(blp, 404, 422)
def patch_subscriber(data, subscriber_id, principal):
    """Change your place, radius, interests, quiet hours or token."""
    return services().subscribers.update(principal, subscriber_id, data)


@blp.route("/subscribers/<subscriber_id>", methods=["DELETE"])
@auth(blp, SUBSCRIBER)
@blp.response(204)
@errors(blp, 404)
def delete_subscriber(subscriber_id, principal):
    """Unsubscribe: the subscription and its place are deleted."""
    services().subscribers.delete(principal, subscriber_id)
    return None
