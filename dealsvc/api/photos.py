"""Offers' photos: the owner's upload (PUT /api/v1/offers/{id}/photo, the picture as the body),
the kept files (/media/<name>.jpg, immutable), and the larger body limit of the routes that take
a photo (DEALSVC_MAX_UPLOAD_BYTES, not the JSON routes' DEALSVC_MAX_REQUEST_BYTES)."""
from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask import Flask, Response, abort, request

from config import Settings

from ..domain import photos
from ..services.auth import MERCHANT
from .common import auth, errors, services
from .problems import Blueprint
from .schemas import OfferSchema

blp = Blueprint("photos", __name__, url_prefix="/api/v1", description="Offers' photos")
media = FlaskBlueprint("media", __name__)

_UPLOAD = "_dealsvc_upload"
YEAR_S = 365 * 24 * 3600
MEDIA_CACHE = f"public, max-age={YEAR_S}, immutable"


def takes_upload(fn):
    """Mark a view whose body may carry a photo: up to max_upload_bytes instead of the JSON limit."""
    setattr(fn, _UPLOAD, True)
    return fn


def install_upload_limit(app: Flask, settings: Settings) -> None:
    """Before anything reads the body (the pages' CSRF check reads their form), a route marked
    with takes_upload gets its own limit; a larger body is the usual 413, naming that limit."""
    uploads = {endpoint for endpoint, view in app.view_functions.items() if getattr(view, _UPLOAD, False)}

    @app.before_request
    def _upload_limit():
        if request.endpoint in uploads:
            request.max_content_length = settings.max_upload_bytes


_PHOTO_BODY = {
    "required": True,
    "description": "The photo itself, as taken (at most DEALSVC_MAX_UPLOAD_BYTES, 12 MiB by default). "
                   f"It is turned upright, stripped of EXIF (GPS included) and every other metadata, "
                   f"and kept as a JPEG of at most {photos.LARGE_MAX_BYTES:,} bytes and a thumbnail; "
                   "at most " + ", ".join(f"{n // 1_000_000} million pixels in {fmt}"
                                          for fmt, n in photos.MAX_PIXELS_BY_FORMAT.items()) + ".",
    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in photos.ACCEPTED_TYPES},
}


@blp.route("/offers/<offer_id>/photo", methods=["PUT"])
@takes_upload
@auth(blp, MERCHANT)
@blp.doc(requestBody=_PHOTO_BODY)
@blp.response(200, OfferSchema)
@errors(blp, 400, 404, 409, 413, 415)
def put_photo(offer_id, principal):
    """Give your offer a photo, replacing any (owner only): its `image_url` and `thumbnail_url`
    then show it, and so do the pushes sent from then on. 400 when the body is not a usable
    JPEG, PNG or WebP image, 413 when it is too large, 415 for another Content-Type, 409 once
    the offer has ended."""
    return services().photos.attach(principal, offer_id, request.get_data(cache=False), request.content_type or "")


@media.get("/media/<name>")
def media_file(name: str):
    """A kept photo file: named by its content, so it never changes (cached for a year)."""
    data = services().photos.media(name)
    if data is None:
        abort(404)
    response = Response(data, mimetype=photos.MEDIA_TYPE)
    response.set_etag(name.removesuffix(photos.EXTENSION))
    response.headers["Cache-Control"] = MEDIA_CACHE
    return response.make_conditional(request)
