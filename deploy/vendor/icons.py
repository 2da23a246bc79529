"""Draw the web app's icons (dealsvc/web/static/app/icon-*.png) with the standard library only:
a white map pin with a leaf-green dot on the brand's green. Run once after changing the design:
    python deploy/vendor/icons.py
"""
from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "dealsvc" / "web" / "static" / "app"
GREEN, WHITE, LEAF = (11, 107, 58), (255, 255, 255), (120, 190, 80)


def _png(size: int, pixel) -> bytes:
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y, size)) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _pin(x: float, y: float, scale: float) -> str | None:
    """In units of the icon (0..1): a pin whose head is a circle and whose point is at the bottom."""
    cx, cy, r = 0.5, 0.42, 0.2 * scale
    tip = cy + 0.36 * scale
    d = math.hypot(x - cx, y - cy)
    if d <= r * 0.45:
        return "dot"
    if d <= r:
        return "pin"
    if cy <= y <= tip:  # the point: a triangle narrowing from the circle's width to nothing
        half = r * 0.87 * (tip - y) / (tip - cy)
        if abs(x - cx) <= half:
            return "pin"
    return None


def icon(maskable: bool):
    def pixel(px: int, py: int, size: int):
        x, y = (px + 0.5) / size, (py + 0.5) / size
        if not maskable:  # a rounded square on a clear background
            k = 0.18
            qx, qy = max(abs(x - 0.5) - (0.5 - k), 0), max(abs(y - 0.5) - (0.5 - k), 0)
            if math.hypot(qx, qy) > k:
                return (0, 0, 0, 0)
        part = _pin(x, y, 0.8 if maskable else 1.0)  # maskable: inside the safe circle (80 %)
        colour = {"pin": WHITE, "dot": LEAF}.get(part, GREEN)
        return (*colour, 255)
    return pixel


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icon-192.png").write_bytes(_png(192, icon(False)))
    (OUT / "icon-512.png").write_bytes(_png(512, icon(False)))
    (OUT / "icon-maskable-512.png").write_bytes(_png(512, icon(True)))
    print("icons written to", OUT)
