"""An offer's photo: what is accepted, what is kept, how the kept files are named and where
they are found. The pictures themselves are worked by an adapter (adapters/images.py); the
files are kept by a MediaStore (adapters/media_store.py by default).

Every file is named by the SHA-256 of its own bytes, so a name never changes what it shows:
clients and caches may keep it forever, and the same picture uploaded twice is kept once."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from .errors import DomainError
from .i18n import Text

# What a phone's camera or gallery hands the browser (iOS turns HEIC into JPEG on upload).
ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp")
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# A decompression bomb is refused before it is decoded: no phone photo comes near this (a
# 200-megapixel sensor saves 12.5 MP unless asked otherwise), and the decoded RGB is ≤ 120 MB.
MAX_PIXELS = 40_000_000
# A WebP decodes through canvases several times its size (about 15 bytes a pixel with Pillow 13 and
# libwebp: 710 MB at the peak for 40 MP, 313 MB for 16 MP; bench/photos.py). Phones save their
# photos as JPEG; a WebP from a gallery is a phone's 12 MP (4032 × 3024) at most, as a rule.
MAX_PIXELS_BY_FORMAT = {"JPEG": MAX_PIXELS, "PNG": MAX_PIXELS, "WEBP": 16_000_000}
# The version pushes and the offer's page show: at most this many bytes (1 MB), this long a side.
LARGE_MAX_BYTES = 1_000_000
LARGE_MAX_SIDE = 1600
# What lists show (a 96–200 CSS px square, sharp on a 2x screen).
THUMBNAIL_MAX_SIDE = 400
EXTENSION = ".jpg"
MEDIA_TYPE = "image/jpeg"
MEDIA_PATH = "/media/"

_NAME = re.compile(r"^[0-9a-f]{64}\.jpg$")


class NotAPhoto(DomainError):
    """The body is not a picture the service can read (400)."""

    title = Text("Not a usable photo")

    def __init__(self, detail: Text):
        super().__init__(detail, {"photo": [detail]})


class UnsupportedPhotoType(DomainError):
    status = 415

    def __init__(self) -> None:
        detail = Text("Send the photo as JPEG, PNG or WebP, with its Content-Type (image/jpeg, image/png or image/webp).")
        super().__init__(detail, {"photo": [detail]})


NOT_AN_IMAGE = Text("This is not a JPEG, PNG or WebP image, or it is damaged.")
EMPTY = Text("The photo is empty.")


def too_many_pixels(limit: int = MAX_PIXELS) -> Text:
    return Text("The photo has more than {megapixels} million pixels: take it at a lower resolution.",
                megapixels=limit // 1_000_000)


@dataclass(frozen=True)
class Photo:
    """A picture made ready to keep: the large version and the thumbnail, upright, in JPEG
    with no metadata, each with its name."""

    large: bytes
    thumbnail: bytes
    width: int
    height: int

    @property
    def large_name(self) -> str:
        return media_name(self.large)

    @property
    def thumbnail_name(self) -> str:
        return media_name(self.thumbnail)


class PhotoProcessor(Protocol):
    def prepare(self, data: bytes) -> Photo:
        """The photo made ready to keep; NotAPhoto when `data` is not one (never another error)."""


class MediaStore(Protocol):
    """Where the kept files live, by name (media_name). Writing a name already kept is a no-op."""

    def put(self, name: str, data: bytes) -> None: ...

    def get(self, name: str) -> bytes | None:
        """The file's bytes; None when no file has this name."""

    def delete(self, name: str) -> None:
        """Remove the file (nothing when there is none): no longer served."""


def media_name(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest() + EXTENSION


def is_media_name(name: str) -> bool:
    """A name the service could have given (64 hex digits and .jpg): nothing else is looked up,
    so no path leaves the store."""
    return bool(_NAME.match(name))


def media_url(public_url: str | None, name: str | None) -> str | None:
    """Where a kept file is served: absolute under the service's public address when it has
    one, else a path on this service."""
    if not name:
        return None
    return f"{public_url.rstrip('/')}{MEDIA_PATH}{name}" if public_url else f"{MEDIA_PATH}{name}"
