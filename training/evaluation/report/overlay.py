"""Heatmaps drawn over photos: viridis (colour-blind safe), see-through, on the model's
input square only (the centred square of the shorter side), as the API's crop says."""

from __future__ import annotations

import numpy as np
from PIL import Image

from isit.explain import normalised_grid

ALPHA = 0.45


def colourise(grid: np.ndarray, size: int) -> Image.Image:
    """A 0..1 grid as a ``size`` x ``size`` RGB image (bilinear-smoothed viridis)."""
    from matplotlib import colormaps

    smooth = Image.fromarray(np.asarray(grid, dtype=np.float32)).resize(
        (size, size), Image.Resampling.BILINEAR
    )
    rgba = colormaps["viridis"](np.clip(np.asarray(smooth), 0, 1))
    return Image.fromarray((rgba[..., :3] * 255).astype(np.uint8), "RGB")


def draw_over(img: Image.Image, class_map: np.ndarray) -> Image.Image:
    """``img`` (an upright photo or its thumbnail) with ``class_map`` over its centre
    square, normalised 0..1 as the API shows it."""
    rgb = img.convert("RGB")
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    box = (left, top, left + side, top + side)
    heat = colourise(normalised_grid(class_map), side)
    rgb.paste(Image.blend(rgb.crop(box), heat, ALPHA), box[:2])
    return rgb
