"""The demo's sample photos differ only by the shape (issue 24): the background says
nothing about the class, so the demo's model and its heatmaps must look at the shapes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training.data.sampledata import CLASSES, MARGIN, draw_image

PER_CLASS = 80
BAND = 0.05  # the outer 5% of each side: background only (shapes keep MARGIN off the edges)


def border_features(pixels: np.ndarray) -> np.ndarray:
    """Mean and spread of the colour of each side's band, and of its column/row means (a
    stripe shows there): 4 sides x 3 channels x 3 numbers."""
    side = min(pixels.shape[:2])
    top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
    square = pixels[top : top + side, left : left + side].astype(np.float64)
    k = max(1, int(side * BAND))
    bands = (square[:k], square[-k:], square[:, :k], square[:, -k:])
    out = []
    for axis, band in zip((0, 0, 1, 1), bands, strict=True):
        profile = band.mean(axis=axis)  # along the side: a stripe is a bump here
        out += [band.mean(axis=(0, 1)), band.std(axis=(0, 1)), profile.std(axis=0)]
    return np.concatenate(out)


def borders(stripe: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Border features of freshly drawn photos; ``stripe``: a shortcut added on purpose to
    the first class, a yellow stripe along the top (the check must see it)."""
    rng = np.random.default_rng(seed)
    x, y = [], []
    for c, label in enumerate(CLASSES):
        for _ in range(PER_CLASS):
            pixels = np.asarray(draw_image(rng, label, 64, 160), np.float64)
            if c == 0 and stripe:
                pixels[: pixels.shape[0] // 2 + 4] = (255, 220, 0)  # the square's top too
            x.append(border_features(pixels))
            y.append(c)
    return np.array(x), np.array(y)


def border_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(model, x, y, cv=5).mean())


def test_the_class_cannot_be_told_from_the_border():
    # Chance is 1/3; 240 photos put 0.45 about 4 standard errors above it.
    assert border_accuracy(*borders()) < 0.45


def test_the_check_would_see_a_border_shortcut():
    # A stripe on one class of three: that class found, the other two at 1/2: ~0.67.
    assert border_accuracy(*borders(stripe=True)) > 0.6


@pytest.mark.parametrize("label", CLASSES)
def test_shapes_lie_inside_the_centred_square_off_its_edges(label, monkeypatch):
    """The model sees the centred square only: a shape outside it would be a wrong label,
    one on its edge a border clue. On a black background, the square's edges stay black."""
    from PIL import Image

    from training.data import sampledata

    monkeypatch.setattr(sampledata, "noisy_gradient", lambda rng, w, h: Image.new("RGB", (w, h)))
    rng = np.random.default_rng(5)
    for _ in range(30):
        pixels = np.asarray(draw_image(rng, label, 96, 200))
        h, w = pixels.shape[:2]
        side = min(h, w)
        inner = pixels[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
        k = int(side * MARGIN / 2)  # half the margin: blur may spread a pixel or two
        assert inner.max() > 0  # a shape is drawn, inside the square
        for band in (inner[:k], inner[-k:], inner[:, :k], inner[:, -k:]):
            assert band.max() <= 8, label
