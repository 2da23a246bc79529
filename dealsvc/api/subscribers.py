"""Residents' devices: registration, their own settings and their favourite shops."""
from __future__ import annotations

from flask import request

from ..services.auth import SUBSCRIBER
from .common import auth, errors, services
from .limits import SUBSCRIBERS, rate_limited
from .problems import Blueprint
from .schemas import (
    FavoriteListSchema,
    FavoriteSchema,
    FavoriteShopSchema,
    SubscriberCreateSchema,
    SubscriberCreatedSchema,
    SubscriberExportSchema,
    SubscriberPatchSchema,
    SubscriberSchema,
)

blp = Blueprint("subscribers", __name__, url_prefix="/api/v1", description="Residents' devices")


@blp.route("/subscribers", methods=["POST"])
@rate_limited(blp, SUBSCRIBERS)
@blp.arguments(SubscriberCreateSchema)
@blp.response(201, SubscriberCreatedSchema)
@errors(blp, 422)
def register_subscriber(data):
    """Register a phone for alerts around a place, and up to two more; the secret is shown only in this answer.
    Without `locale`, the best match of the request's Accept-Language among it, fr and en is taken, else the
    service's default; without `timezone`, the zone of lat/lon."""
    return services().subscribers.register(data, request.headers.get("Accept-Language"))


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
    """Change your place, radius, other places, interests, quiet hours, price-drop alerts or token.
    Sending `fcm_token` (even unchanged) tells the service the app is still there: a token not
    presented for 60 days gets no pushes, and one not presented for 270 days is dropped."""
    return services().subscribers.update(principal, subscriber_id, data)


@blp.route("/subscribers/<subscriber_id>", methods=["DELETE"])
@auth(blp, SUBSCRIBER)
@blp.response(204)
@errors(blp, 404)
def delete_subscriber(subscriber_id, principal):
    """Unsubscribe: the subscription, its places and its favourite shops are deleted."""
    services().subscribers.delete(principal, subscriber_id)
    return None


@blp.route("/subscribers/<subscriber_id>/export", methods=["GET"])
@auth(blp, SUBSCRIBER)
@blp.response(200, SubscriberExportSchema)
@errors(blp, 404)
def export_subscriber(subscriber_id, principal):
    """Everything this service holds about you, as JSON: your subscription with its places, token
    and privacy notice, the shops you follow, your reservations and the alerts planned or sent to
    you. Anyone else's id is a 404."""
    return services().subscribers.export(principal, subscriber_id)


@blp.route("/subscribers/<subscriber_id>/favorites", methods=["GET"])
@auth(blp, SUBSCRIBER)
@blp.response(200, FavoriteListSchema)
@errors(blp, 404)
def list_favorites(subscriber_id, principal):
    """The shops you follow, newest first."""
    return services().favorites.list(principal, subscriber_id)


@blp.route("/subscribers/<subscriber_id>/favorites", methods=["POST"])
@auth(blp, SUBSCRIBER)
@blp.arguments(FavoriteShopSchema)
@blp.response(201, FavoriteSchema, description="Now followed.")
@blp.alt_response(200, schema=FavoriteSchema, description="Already followed: nothing changed.")
@errors(blp, 404, 422)
def follow_shop(data, subscriber_id, principal):
    """Follow a shop: its offers reach you up to the operator's max_radius_m away, among the first.
    At most 50 shops (422 beyond); an unknown shop is a 404."""
    favorite, created = services().favorites.follow(principal, subscriber_id, data["shop_id"])
    return favorite, 201 if created else 200


@blp.route("/subscribers/<subscriber_id>/favorites/<shop_id>", methods=["DELETE"])
@auth(blp, SUBSCRIBER)
@blp.response(204)
@errors(blp, 404)
def unfollow_shop(subscriber_id, shop_id, principal):
    """Stop following a shop; one you do not follow is a 404."""
    services().favorites.unfollow(principal, subscriber_id, shop_id)
    return None


@blp.route("/subscribers/<subscriber_id>/favorites", methods=["DELETE"])
@auth(blp, SUBSCRIBER)
@blp.arguments(FavoriteShopSchema)
@blp.response(204)
@errors(blp, 404)
def unfollow_shop_named_in_body(data, subscriber_id, principal):
    """Stop following the shop named in the body; the same as DELETE .../favorites/{shop_id}."""
    services().favorites.unfollow(principal, subscriber_id, data["shop_id"])
    return None
