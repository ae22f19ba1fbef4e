"""Generated "photos" for tests and benchmarks: genuinely distinct, reproducible images.

Each picture is a colour gradient, a few random shapes and sensor-like noise, drawn from
a seed. ``palette`` pins the colours so that two *different* scenes can look alike (the
test that near-duplicate detection does not merge merely similar photos).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

Palette = tuple[tuple[int, int, int], ...]


def random_palette(seed: int, colours: int = 5) -> Palette:
    rng = np.random.default_rng([seed, 7])
    return tuple(tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(colours))


def draw_photo(
    seed: int,
    size: tuple[int, int] = (240, 180),
    *,
    palette: Palette | None = None,
    shapes: int = 12,
    noise: float = 6.0,
) -> Image.Image:
    """One RGB scene from ``seed``; the same seed always gives the same pixels."""
    rng = np.random.default_rng(seed)
    colours = palette or random_palette(seed)
    width, height = size
    # Background: a linear gradient between two palette colours, at a random angle.
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (np.cos(angle) * xx / width + np.sin(angle) * yy / height + 1.0) / 2.0
    start = np.asarray(colours[0], np.float32)
    end = np.asarray(colours[1 % len(colours)], np.float32)
    pixels = start + (end - start) * t[..., None]
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(shapes):
        colour = colours[int(rng.integers(0, len(colours)))]
        # At most 60% of the frame each way, so that no shape paints over the whole scene.
        x0 = int(rng.integers(-width // 5, width))
        y0 = int(rng.integers(-height // 5, height))
        x1 = x0 + int(rng.integers(width // 10, width * 6 // 10))
        y1 = y0 + int(rng.integers(height // 10, height * 6 // 10))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            points = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(3)]
            draw.polygon(points, fill=colour)
    arr = np.asarray(img, np.float32) + rng.normal(0.0, noise, (height, width, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def write_photos(
    folder: Path, count: int, *, seed: int, size: tuple[int, int] = (240, 180)
) -> list[Path]:
    """``count`` distinct JPEGs named ``img_000.jpg``...; seeds ``seed*100000 + i``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img_{i:03d}.jpg"
        draw_photo(seed * 100_000 + i, size).save(path, quality=90)
        paths.append(path)
    return paths


def new_shape_photos(seed: int = 2026) -> list[tuple[bytes, str]]:
    """``[(image bytes, label), ...]``: two photos (JPEG, PNG) of each sample class drawn
    with another seed than the training photos', so a model trained on them never saw
    these."""
    import io

    from training.data.sampledata import CLASSES, draw_image

    rng = np.random.default_rng(seed)
    photos = []
    for label in CLASSES:
        for fmt in ("JPEG", "PNG"):
            buffer = io.BytesIO()
            draw_image(rng, label, 64, 160).save(buffer, fmt)
            photos.append((buffer.getvalue(), label))
    return photos
