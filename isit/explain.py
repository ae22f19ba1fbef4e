"""Where the model looked: the class activation map of one answer, ready for a client.

The model's ``heatmap`` output holds each class's evidence per region of the model's
input (the centred square of the upright photo, resized). For one photo and one class,
:func:`normalised_grid` scales it to 0..1 (min to max, per photo), row 0 at the top, and
:func:`crop_box` says where that square lies in the uploaded photo's own pixels, so a
client can lay the grid over the full photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from isit.imaging import DecodedImage


@dataclass(frozen=True)
class CropBox:
    x: int
    y: int
    width: int
    height: int

    def to_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Heatmap:
    label: str  # the class whose evidence is shown: the answer, or the best guess
    grid: np.ndarray  # [rows, cols] in 0..1, row 0 at the top
    crop: CropBox  # the model's input square, in the uploaded photo's pixels

    def to_dict(self) -> dict[str, Any]:
        rows, cols = self.grid.shape
        return {
            "heatmap": {
                "label": self.label,
                "rows": int(rows),
                "cols": int(cols),
                "grid": [[round(float(v), 4) for v in row] for row in self.grid],
            },
            "crop": self.crop.to_dict(),
        }


def upright_size(decoded: DecodedImage) -> tuple[int, int]:
    """The uploaded photo's (width, height) after EXIF orientation, at full resolution
    (the decoded image may be smaller: JPEG draft mode)."""
    width, height = decoded.original_size
    img_w, img_h = decoded.image.size
    if img_w != img_h and (img_w > img_h) != (width > height):
        width, height = height, width  # EXIF turned it by 90 degrees
    return width, height


def crop_box(decoded: DecodedImage) -> CropBox:
    """The centred square of the shorter side (the resize rule), in upload pixels."""
    width, height = upright_size(decoded)
    side = min(width, height)
    return CropBox((width - side) // 2, (height - side) // 2, side, side)


def normalised_grid(class_map: np.ndarray) -> np.ndarray:
    """One class's ``[h, w]`` evidence scaled to 0..1 (min to max; flat maps give 0)."""
    values = np.asarray(class_map, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if not high > low:
        return np.zeros_like(values)
    return (values - low) / (high - low)
