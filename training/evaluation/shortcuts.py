"""A warning when a class is learnt from a shortcut: evidence on the border or in one spot.

A frozen backbone finds whatever separates the folders: black bars around one film's
frames, a watermark, a logo in a corner. From each photo's class activation map (the
evidence for its own class, negative parts dropped, scaled to sum 1, upsampled to the
model's input), two rules, chosen so that clean generated and real folders stay silent:

- **Border**: on average more than ``BORDER_SHARE`` of a class's evidence lies within
  ``BORDER`` (10%) of the edges of the model's input square (that band is 36% of the
  area, so evenly spread evidence puts ~36% there; an object in the middle, far less),
  and at least ``BORDER_RATIO`` times the other classes' (median) share (photos of one
  folder share their style: it is the difference between classes that shows a frame).
- **One fixed spot** on the edge (a logo, a watermark; a subject in the middle is
  normal): a window of a fifth of the side touching the border holds more than
  ``SPOT_SHARE`` of the class's average evidence (it is 4% of the area), at least
  ``SPOT_RATIO`` times the other classes' share of theirs in the same window, and at
  least ``SPOT_AGREEMENT`` of the class's photos peak inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

BORDER = 0.10
BORDER_SHARE = 0.38
BORDER_RATIO = 1.3
SPOT = 0.20
SPOT_SHARE = 0.15
SPOT_RATIO = 2.0
SPOT_AGREEMENT = 0.35  # random peaks land in a window 4% of the time
UPSAMPLE = 60  # rows/cols the maps are compared at (a 7x7 map is coarse)
MIN_PHOTOS = 5


@dataclass(frozen=True)
class ClassEvidence:
    label: str
    border_share: float  # average share of evidence within BORDER of the edges
    spot_share: float  # share of the average evidence in its best SPOT window
    spot_agreement: float  # photos whose peak lies in that window
    spot_where: str  # "top-left corner", "centre", ...
    photos: int
    mean: np.ndarray  # the class's average evidence [UPSAMPLE, UPSAMPLE]
    spot: tuple[int, int, int]  # (row, col, size) of its strongest edge window


def evidence(class_map: np.ndarray) -> np.ndarray:
    """One photo's map of its class: negative evidence dropped, upsampled, summing to 1."""
    from PIL import Image

    positive = np.maximum(np.asarray(class_map, dtype=np.float32), 0)
    image = Image.fromarray(positive).resize((UPSAMPLE, UPSAMPLE), Image.Resampling.BILINEAR)
    up = np.maximum(np.asarray(image, dtype=np.float64), 0)
    total = up.sum()
    return up / total if total > 0 else np.full_like(up, 1 / up.size)


def _border_mask() -> np.ndarray:
    band = max(1, round(BORDER * UPSAMPLE))
    mask = np.ones((UPSAMPLE, UPSAMPLE), bool)
    mask[band:-band, band:-band] = False
    return mask


def _where(row: int, col: int, size: int) -> str:
    thirds = ("top", "middle", "bottom"), ("left", "centre", "right")
    centre_r, centre_c = (row + size / 2) / UPSAMPLE, (col + size / 2) / UPSAMPLE
    vertical = thirds[0][min(2, int(centre_r * 3))]
    horizontal = thirds[1][min(2, int(centre_c * 3))]
    if vertical == "middle" and horizontal == "centre":
        return "centre"
    if vertical == "middle":
        return f"{horizontal} edge"
    return f"{vertical} edge" if horizontal == "centre" else f"{vertical}-{horizontal} corner"


def _window_sums(mean: np.ndarray, size: int) -> np.ndarray:
    """Evidence in every ``size`` x ``size`` window; windows off the border count -1."""
    sums = np.lib.stride_tricks.sliding_window_view(mean, (size, size)).sum(axis=(2, 3))
    edge = np.zeros(sums.shape, bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    return np.where(edge, sums, -1.0)


def class_evidence(label: str, maps: np.ndarray) -> ClassEvidence:
    """``maps``: ``[n, h, w]`` heatmaps of this class on n photos of this class."""
    each = np.stack([evidence(m) for m in maps])
    mean = each.mean(axis=0)
    size = max(1, round(SPOT * UPSAMPLE))
    sums = _window_sums(mean, size)
    row, col = np.unravel_index(int(np.argmax(sums)), sums.shape)
    peaks = [np.unravel_index(int(np.argmax(e)), e.shape) for e in each]
    inside = [row <= r < row + size and col <= c < col + size for r, c in peaks]
    return ClassEvidence(
        label=label,
        border_share=float((each * _border_mask()).sum(axis=(1, 2)).mean()),
        spot_share=float(sums[row, col]),
        spot_agreement=float(np.mean(inside)),
        spot_where=_where(int(row), int(col), size),
        photos=len(maps),
        mean=mean,
        spot=(int(row), int(col), size),
    )


def warning_for(
    found: ClassEvidence, display: str, others_border: float = 0.0, others_spot: float = 0.0
) -> str | None:
    """The warning for one class, or None. One spot first: a corner stamp is on the
    border too, and "one spot" says more."""
    if found.photos < MIN_PHOTOS:
        return None
    spot = found.spot_share > max(SPOT_SHARE, SPOT_RATIO * others_spot)
    if spot and found.spot_agreement >= SPOT_AGREEMENT:
        return (
            f"{display} photos: the model looks mostly at one spot, the {found.spot_where} "
            f"({found.spot_share:.0%} of the evidence, the strongest point there in "
            f"{found.spot_agreement:.0%} of them). Check for a logo, watermark or stamp "
            "that only these photos have."
        )
    if found.border_share > max(BORDER_SHARE, BORDER_RATIO * others_border):
        return (
            f"{display} photos: the model looks mostly at the edges "
            f"({found.border_share:.0%} of the evidence within {BORDER:.0%} of the border). "
            "Check for borders, frames or watermarks that only these photos have."
        )
    return None


def shortcut_warnings(
    maps_by_class: Mapping[str, np.ndarray],
) -> tuple[list[str], list[ClassEvidence]]:
    """Warnings (possibly none) and the measurements behind them, per class."""
    found = [class_evidence(label, maps) for label, maps in maps_by_class.items() if len(maps)]
    warnings = []
    for f in found:
        others = [o for o in found if o is not f]
        border = float(np.median([o.border_share for o in others])) if others else 0.0
        row, col, size = f.spot
        window = [o.mean[row : row + size, col : col + size].sum() for o in others]
        spot = float(np.median(window)) if others else 0.0
        warning = warning_for(f, f.label, border, spot)
        if warning is not None:
            warnings.append(warning)
    return warnings, found
