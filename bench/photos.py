"""What one uploaded photo costs the web process: CPU and peak memory, per kind of picture.

    .venv/bin/python -m bench.photos [--megapixels 40] [--runs 3]

Each picture goes through the service's own processing (adapters/images.py: the large version and
the thumbnail, upright, in sRGB, without metadata; two at once at most per process) and, in the same run, through the obvious
alternative with Pillow (decode the whole picture, turn it upright, convert it to RGB, shrink it,
save it), each in a process of its own so that its peak memory is its own. The pictures: a
phone's JPEG with its EXIF, a PNG with transparency (a screenshot, a cut-out) and a WebP, each of
`--megapixels`, or as many as the service takes of its kind.
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time

from dealsvc.domain.photos import MAX_PIXELS_BY_FORMAT

# The smallest run that still goes through every step (tests/e2e/test_benchmarks.py).
TINY = ["--megapixels", "2", "--runs", "1"]
# What a web process may spend on one upload: two are worked at once at most (adapters/images.py),
# so its photos never take more than about 640 MB together.
TARGET_PEAK_MB = 320

KINDS = ("jpeg", "png", "webp")


def picture(kind: str, megapixels: float) -> bytes:
    """A picture of about `megapixels`, 4:3, with detail (a flat colour would compress to nothing)."""
    import numpy as np
    from PIL import Image

    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    rng = np.random.default_rng(7)
    tile = rng.integers(0, 255, (64, 64, 4), dtype=np.uint8)
    pixels = np.tile(tile, (height // 64 + 1, width // 64 + 1, 1))[:height, :width]
    out = io.BytesIO()
    if kind == "png":
        Image.fromarray(pixels, "RGBA").save(out, "PNG", compress_level=1)
    elif kind == "webp":
        Image.fromarray(pixels[..., :3], "RGB").save(out, "WEBP", quality=80, method=0)
    else:
        image = Image.fromarray(pixels[..., :3], "RGB")
        exif = image.getexif()
        exif[0x0112] = 6  # taken with the phone on its side
        image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: its own, where ru_maxrss would also count the
    parent's at the fork)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def _one(way: str, path: str) -> None:
    """In a process of its own: process the picture once, print its CPU, wall time and peak memory."""
    from PIL import Image, ImageOps

    data = open(path, "rb").read()
    started_cpu, started = time.process_time(), time.perf_counter()
    if way == "service":
        from dealsvc.adapters.images import PillowPhotos

        made = PillowPhotos().prepare(data)
        size = len(made.large)
    else:
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(io.BytesIO(data)) as image:
            rgb = ImageOps.exif_transpose(image).convert("RGB")
        rgb.thumbnail((1600, 1600), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        rgb.save(out, "JPEG", quality=85)
        size = out.tell()
    print(json.dumps({
        "cpu_s": time.process_time() - started_cpu, "wall_s": time.perf_counter() - started,
        "peak_mb": _peak_mb(), "bytes": size,
    }))


def _baseline_mb() -> float:
    """The peak of a process that imported everything and processed nothing."""
    code = "import numpy, PIL.Image, PIL.ImageOps, dealsvc.adapters.images, bench.photos as b; print(b._peak_mb())"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(*args.one)
        return
    import tempfile

    base = _baseline_mb()
    print(f"{args.megapixels:g} megapixels, best of {args.runs}; the imports alone: {base:.0f} MB")
    print(f"{'picture':<12} {'way':<26} {'CPU s':>6} {'wall s':>7} {'peak MB':>8} {'large KB':>9}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for kind in KINDS:
            # As large as asked, or as large as the service takes of that kind (domain/photos.py).
            megapixels = min(args.megapixels, MAX_PIXELS_BY_FORMAT[kind.upper()] / 1_000_000 * 0.99)
            path = f"{folder}/photo.{kind}"
            with open(path, "wb") as f:
                f.write(picture(kind, megapixels))
            for way, label in (("service", "the service (images.py)"), ("plain", "plain Pillow")):
                runs = [json.loads(subprocess.run(
                    [sys.executable, "-m", "bench.photos", "--one", way, path],
                    capture_output=True, text=True, check=True).stdout) for _ in range(args.runs)]
                best = min(runs, key=lambda r: r["cpu_s"])
                peak = max(r["peak_mb"] for r in runs)
                if way == "service":
                    worst = max(worst, peak)
                print(f"{kind:<5}{megapixels:>3.0f} MP {label:<26} {best['cpu_s']:>6.2f} {best['wall_s']:>7.2f} {peak:>8.0f} {best['bytes'] / 1000:>9.0f}")
    verdict = "met" if worst <= TARGET_PEAK_MB else "NOT met"
    print(f"target: at most {TARGET_PEAK_MB} MB at the peak per upload: {worst:.0f} MB ({verdict})")


if __name__ == "__main__":
    main()
