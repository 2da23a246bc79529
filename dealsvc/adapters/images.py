"""Photos with Pillow: check that the bytes are a picture (and not a decompression bomb), turn
it upright, drop every piece of metadata (EXIF with its GPS position, XMP, comments, colour
profiles once the colours are converted to sRGB), and make the large version and the thumbnail
as fresh JPEGs (domain/photos.py says how big)."""
from __future__ import annotations

import io
import logging
import threading
import warnings

from PIL import Image, ImageCms, ImageOps

from ..domain import photos
from ..domain.photos import NotAPhoto, Photo

log = logging.getLogger(__name__)

# Pillow's own guard at our limit, behind our check: its warning (above the limit) is an error
# too, set once for the process (warnings.catch_warnings per call is not safe in threads).
Image.MAX_IMAGE_PIXELS = photos.MAX_PIXELS
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
# Each try at the large version: longest side, JPEG quality; the first that fits is kept.
_LARGE_TRIES = tuple((side, quality) for side in (photos.LARGE_MAX_SIDE, 1280, 1024, 800, 640) for quality in (85, 75, 65))
_THUMBNAIL_QUALITY = 80
_SRGB = ImageCms.createProfile("sRGB")
# Photos worked at once in a process: each may take up to about 300 MB at its peak (bench/photos.py),
# so a web process's threads take their turn beyond two rather than add up.
_AT_ONCE = threading.BoundedSemaphore(2)


class PillowPhotos:
    """The PhotoProcessor of domain/photos.py."""

    def prepare(self, data: bytes) -> Photo:
        if not data:
            raise NotAPhoto(photos.EMPTY)
        with _AT_ONCE:
            return self._prepared(data)

    def _prepared(self, data: bytes) -> Photo:
        try:
            picture = self._decoded(data)
        except NotAPhoto:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise NotAPhoto(photos.too_many_pixels()) from None
        except Exception as error:  # whatever a broken or hostile file makes Pillow raise
            log.info("photo refused: %s: %s", type(error).__name__, error)
            raise NotAPhoto(photos.NOT_AN_IMAGE) from None
        large = _large(picture)
        thumbnail = picture.copy()
        thumbnail.thumbnail((photos.THUMBNAIL_MAX_SIDE,) * 2, Image.Resampling.LANCZOS)
        return Photo(large=large, thumbnail=_jpeg(thumbnail, _THUMBNAIL_QUALITY), width=picture.width, height=picture.height)

    @staticmethod
    def _decoded(data: bytes) -> Image.Image:
        """The picture upright, in sRGB, no larger than the large version's side, with nothing
        but its pixels."""
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in photos.ACCEPTED_FORMATS:
                raise NotAPhoto(photos.NOT_AN_IMAGE)
            limit = photos.MAX_PIXELS_BY_FORMAT[probe.format]
            if probe.width * probe.height > limit:
                raise NotAPhoto(photos.too_many_pixels(limit))
            probe.verify()  # the file's structure (checksums, truncation) before any decoding
        with Image.open(io.BytesIO(data)) as image:
            # A JPEG decodes straight at 1/2, 1/4 or 1/8 of its size when that is still large enough.
            image.draft("RGB", (photos.LARGE_MAX_SIDE, photos.LARGE_MAX_SIDE))
            image.load()
            # Shrunk first by a whole factor that keeps it larger than the large version: the
            # conversions below then work on a few MB, not on the full picture (a 40 MP PNG
            # with transparency cost 675 MB at the peak when converted at full size; bench/photos.py).
            small = _reduced(image, min(image.width, image.height) // photos.LARGE_MAX_SIDE)
            upright = ImageOps.exif_transpose(small)
            icc = image.info.get("icc_profile")
            rgb = _flattened(upright)
            if icc:
                try:
                    rgb = ImageCms.profileToProfile(rgb, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB, outputMode="RGB")
                except (ImageCms.PyCMSError, OSError, ValueError):
                    pass  # an unreadable profile: the pixels as they are
        rgb.thumbnail((photos.LARGE_MAX_SIDE,) * 2, Image.Resampling.LANCZOS)
        # A new image holds the pixels only: nothing of the file's info (EXIF, XMP, comment, ICC) comes along.
        clean = Image.new("RGB", rgb.size)
        clean.paste(rgb)
        return clean


# The rows reduced at a time: Pillow reduces a picture with transparency through a premultiplied
# copy of the whole of it, as large as the picture itself; band by band that copy stays small.
_BAND_ROWS = 512


def _reduced(image: Image.Image, factor: int) -> Image.Image:
    """`image` shrunk `factor` times (boxes of factor × factor pixels averaged), with its info (EXIF
    orientation, colour profile); itself when the factor is under 2 or its mode cannot be reduced."""
    if factor < 2 or image.mode not in ("L", "LA", "RGB", "RGBA"):
        return image
    width, height = image.width // factor, image.height // factor
    out = Image.new(image.mode, (width, height))
    band = _BAND_ROWS // factor * factor
    for top in range(0, height * factor, band):
        piece = image.crop((0, top, width * factor, min(top + band, height * factor)))
        out.paste(piece.reduce(factor), (0, top // factor))
    out.info = dict(image.info)
    return out


def _flattened(image: Image.Image) -> Image.Image:
    """RGB, transparency laid on white (JPEG has none)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def _large(picture: Image.Image) -> bytes:
    """The first encoding within LARGE_MAX_BYTES, shrinking the quality, then the size."""
    for side, quality in _LARGE_TRIES:
        image = picture
        if max(picture.size) > side:
            image = picture.copy()
            image.thumbnail((side, side), Image.Resampling.LANCZOS)
        data = _jpeg(image, quality)
        if len(data) <= photos.LARGE_MAX_BYTES:
            return data
    image = picture.copy()
    image.thumbnail((480, 480), Image.Resampling.LANCZOS)
    return _jpeg(image, 50)  # a 480 px JPEG is far below 1 MB whatever it shows
