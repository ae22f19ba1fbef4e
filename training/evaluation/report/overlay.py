"""Heatmaps drawn over photos: viridis (colour-blind safe), see-through, on the model's
input square only (the centred square of the shorter side), as the API's crop says."""

from __future__ import annotations

import numpy as np
from PIL import Image

from isit.explain import normalised_grid

ALPHA = 0.45
# matplotlib's viridis at 33 evenly spaced stops, interpolated linearly in between (within
# 4/255 of it): the colours without importing matplotlib on every training run.
_STOPS = (
    "440154 470d60 48186a 482374 472d7b 453781 424086 3e4989 3b528b 375b8d 33638d 2f6b8e "
    "2c728e 297a8e 26828e 23898e 21918c 1f988b 1fa088 22a785 28ae80 32b67a 3fbc73 4ec36b "
    "5ec962 70cf57 84d44b 98d83e addc30 c2df23 d8e219 ece51b fde725"
)
VIRIDIS = np.array([[int(h[i : i + 2], 16) for i in (0, 2, 4)] for h in _STOPS.split(" ")],
                   dtype=np.float64)  # fmt: skip


def viridis(values: np.ndarray) -> np.ndarray:
    """0..1 values (clipped) to ``[..., 3]`` uint8 viridis colours."""
    stops = np.linspace(0.0, 1.0, len(VIRIDIS))
    flat = np.clip(np.asarray(values, np.float64), 0, 1).ravel()
    rgb = np.stack([np.interp(flat, stops, VIRIDIS[:, k]) for k in range(3)], axis=1)
    return np.round(rgb).astype(np.uint8).reshape(*np.shape(values), 3)


def colourise(grid: np.ndarray, size: int) -> Image.Image:
    """A 0..1 grid as a ``size`` x ``size`` RGB image (bilinear-smoothed viridis)."""
    smooth = Image.fromarray(np.asarray(grid, dtype=np.float32)).resize(
        (size, size), Image.Resampling.BILINEAR
    )
    return Image.fromarray(viridis(np.asarray(smooth)), "RGB")


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
