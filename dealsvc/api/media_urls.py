"""Photos' URLs in the API's answers: absolute, where the services say a path on this service."""
from __future__ import annotations

from flask import current_app, request
from marshmallow import fields

from ..domain import photos


def absolute(url: str | None) -> str | None:
    """A photo's path on this service (/media/...) as an absolute URL: under DEALSVC_PUBLIC_URL,
    else this request's own address. Other URLs (a shopkeeper's link) stay as they are."""
    if not url or not url.startswith(photos.MEDIA_PATH):
        return url
    base = current_app.extensions["dealsvc"].settings.public_url or request.host_url
    return base.rstrip("/") + url


class MediaUrl(fields.String):
    """A URL that may be a photo's path on this service: dumped absolute."""

    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(absolute(value), attr, obj, **kwargs)
