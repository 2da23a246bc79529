"""Photos as a phone takes them (EXIF orientation, GPS, a maker and a comment), and what a kept
file must be: upright, and nothing but pixels."""
from __future__ import annotations

import io

from PIL import Image

RED, BLUE = (255, 0, 0), (0, 0, 255)
GPS_IFD, ORIENTATION = 0x8825, 0x0112
GPS = {1: "N", 2: (45.0, 27.0, 51.12), 3: "E", 4: (9.0, 11.0, 24.0)}


def phone_jpeg(size=(300, 200), orientation: int = 6, **save) -> bytes:
    """A JPEG as a phone held upright saves it: the sensor's landscape pixels (red left half,
    blue right half) with an orientation tag (6: turn 90° clockwise to show) and the GPS position."""
    image = Image.new("RGB", size, RED)
    image.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"
    exif[GPS_IFD] = GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"taken at home", **save)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD), "the upload must carry GPS"
    return data


def assert_clean(data: bytes) -> Image.Image:
    """A kept file: a JPEG with pixels and nothing else (no EXIF, GPS, XMP, comment, profile)."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert not image.getexif() and not image.getexif().get_ifd(GPS_IFD)
    assert not {"exif", "xmp", "comment", "icc_profile", "photoshop"} & set(image.info), image.info
    assert b"Exif\x00\x00" not in data and b"PhoneMaker" not in data and b"taken at home" not in data
    return image


def assert_upright(image: Image.Image) -> None:
    """The phone's picture as it was held: portrait, the sensor's left half at the top."""
    width, height = image.size
    assert height > width
    top, bottom = image.convert("RGB").getpixel((width // 2, height // 8)), image.convert("RGB").getpixel((width // 2, height * 7 // 8))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
