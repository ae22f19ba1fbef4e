"""The demo's sample photos: procedurally drawn shapes on noisy backgrounds.

`isit demo` (`make demo`) trains on them, and the tests use them too, so neither needs
real photos. Three classes (circles, squares, triangles) that differ ONLY by the shape:
every class draws its colours, sizes, positions, counts, backgrounds, blur, image sizes
and file formats from the same distributions, so a model can only learn the shape (a
class colour or a background stripe would be a shortcut, and the demo's heatmaps would
then sit beside the shapes; tests/data/test_sampledata.py checks the borders say
nothing). Shapes lie inside the centred square the model sees, off its edges. A few
odd file names (spaces, unicode, brackets) as users really have.
"""

from __future__ import annotations

import colorsys
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES: tuple[str, ...] = ("circles", "squares", "triangles")
# Shapes keep this share of the centred square's side from its edges: the border is
# background only, whatever the class.
MARGIN = 0.06
_FORMATS = (("jpg", "JPEG"), ("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("bmp", "BMP"))
# Names people really have; used for the first images of each class.
_ODD_NAMES = ("my photo {i}", "café ünïcode {i}", "[draft] shape (#{i})", "写真 {i}")


def noisy_gradient(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A random two-colour gradient with Gaussian noise."""
    start = rng.uniform(0, 255, 3)
    end = rng.uniform(0, 255, 3)
    direction = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xs / width * math.cos(direction) + ys / height * math.sin(direction)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    pixels = start + t[..., None] * (end - start)
    pixels += rng.normal(0, rng.uniform(8, 30), pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """Any saturated colour: the same for every class (colour must not tell the class)."""
    hue = rng.uniform(0, 1)
    r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.65, 1.0), rng.uniform(0.6, 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def draw_shape(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, label: str, width: int, height: int
) -> None:
    side = min(width, height)
    radius = rng.uniform(0.18, 0.38) * side
    # Inside the centred square (what the model sees), MARGIN off its edges.
    left, top, room = (width - side) / 2, (height - side) / 2, side * (1 - 2 * MARGIN)
    low, high = side * MARGIN + radius, side * MARGIN + max(room - radius, radius)
    cx = left + rng.uniform(low, high)
    cy = top + rng.uniform(low, high)
    fill = _colour(rng)
    outline = tuple(max(0, c - 80) for c in fill)
    line = max(1, int(side / 60))
    if label == "circles":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill, outline, line)
    elif label == "squares":
        angle = rng.uniform(0, math.pi / 2)
        corners = [
            (
                cx + radius * math.cos(angle + k * math.pi / 2),
                cy + radius * math.sin(angle + k * math.pi / 2),
            )
            for k in range(4)
        ]
        draw.polygon(corners, fill, outline, line)
    else:
        angle = rng.uniform(0, 2 * math.pi)
        corners = [
            (
                cx + radius * math.cos(angle + k * 2 * math.pi / 3),
                cy + radius * math.sin(angle + k * 2 * math.pi / 3),
            )
            for k in range(3)
        ]
        draw.polygon(corners, fill, outline, line)


def draw_image(rng: np.random.Generator, label: str, min_side: int, max_side: int) -> Image.Image:
    """One picture of ``label``: 1-3 shapes of that class on a noisy background."""
    if label not in CLASSES:
        raise ValueError(f"unknown sample class {label!r}; one of {CLASSES}")
    width = int(rng.integers(min_side, max_side + 1))
    height = int(np.clip(width * rng.uniform(0.7, 1.4), min_side, max_side))
    img = noisy_gradient(rng, width, height)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 4))):
        draw_shape(draw, rng, label, width, height)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    return img


def generate(
    out_dir: str | os.PathLike[str],
    *,
    per_class: int = 40,
    classes: tuple[str, ...] = CLASSES,
    min_side: int = 96,
    max_side: int = 256,
    seed: int = 0,
    odd_names: bool = True,
) -> Path:
    """Write ``per_class`` images per class into ``out_dir/<class>/``; returns ``out_dir``.

    Deterministic for a given seed. Existing files are overwritten (the folder is ours).
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    for label in classes:
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = draw_image(rng, label, min_side, max_side)
            ext, fmt = _FORMATS[int(rng.integers(len(_FORMATS)))]
            if odd_names and i < len(_ODD_NAMES):
                stem = _ODD_NAMES[i].format(i=i)
            else:
                stem = f"{label}_{i:03d}"
            options = {"quality": int(rng.integers(80, 96))} if fmt in ("JPEG", "WEBP") else {}
            img.save(folder / f"{stem}.{ext}", fmt, **options)
    return out
