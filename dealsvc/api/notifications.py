"""A resident's report that they opened a push (what alerts earned)."""
from __future__ import annotations

from ..services.auth import SUBSCRIBER
from .common import auth, errors, services
from .problems import Blueprint

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="What alerts earned")


@blp.route("/notifications/<notification_id>/opened", methods=["POST"])
@auth(blp, SUBSCRIBER)
@blp.response(204)
@errors(blp, 404)
def notification_opened(notification_id, principal):
    """The resident opened the push whose `data.notification_id` this is (a tap on it, reported
    by the app). Only the resident it was sent to: any other gets a 404. Idempotent: the first
    report is kept, later ones change nothing."""
    services().funnel.opened(principal, notification_id)
    return None
