"""The "unknown" score: how unlike the training photos an image is.

Two signals, because each fails alone: the head's doubt (1 - max probability) is low
for an unrelated photo the head happens to push into one class, and the feature-space
distance (cosine distance to the nearest class centroid of L2-normalised training
features) is what catches those. Each is divided by its typical in-distribution value
(95th percentile on held-out images, with a floor) so both matter, then averaged:

    ood = 0.5 * ((1 - max_p) / prob_scale + min_cos_dist / dist_scale)

The exported ONNX graph computes exactly this (see :mod:`training.export_model`);
the threshold is chosen on held-out in-distribution images so that at least 95% of
them are accepted, and stored in the model metadata.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isit.errors import IsitError
from isit.imaging import decode

METHOD = "mean_of_scaled_doubt_and_centroid_cosine_distance"
TARGET_ACCEPTANCE = 0.95
NEGATIVE_LABELS = ("other", "unknown")
_PROB_FLOOR = 0.02
_DIST_FLOOR = 0.01


@dataclass(frozen=True)
class OodParams:
    """Everything the graph needs to compute the score."""

    centroids: np.ndarray  # [C, D] float32, unit rows
    prob_scale: float
    dist_scale: float


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def class_centroids(features: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Unit-length mean direction of each class's L2-normalised training features."""
    unit = l2_normalise(features)
    centroids = np.stack([unit[y == c].mean(axis=0) for c in range(n_classes)])
    return l2_normalise(centroids)


def components(
    features: np.ndarray, probabilities: np.ndarray, centroids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(1 - max probability, cosine distance to the nearest centroid), float32."""
    doubt = 1.0 - probabilities.max(axis=1)
    similarity = l2_normalise(features) @ centroids.T
    distance = 1.0 - similarity.max(axis=1)
    return doubt.astype(np.float32), distance.astype(np.float32)


def fit_params(
    centroids: np.ndarray, held_out_features: np.ndarray, held_out_probabilities: np.ndarray
) -> OodParams:
    """Scales from in-distribution held-out images (never from the training images)."""
    doubt, distance = components(held_out_features, held_out_probabilities, centroids)
    prob_scale = max(float(np.quantile(doubt, 0.95)), _PROB_FLOOR) if len(doubt) else 1.0
    dist_scale = max(float(np.quantile(distance, 0.95)), _DIST_FLOOR) if len(doubt) else 1.0
    return OodParams(centroids.astype(np.float32), prob_scale, dist_scale)


def ood_scores(features: np.ndarray, probabilities: np.ndarray, params: OodParams) -> np.ndarray:
    doubt, distance = components(features, probabilities, params.centroids)
    return (0.5 * (doubt / params.prob_scale + distance / params.dist_scale)).astype(np.float32)


def choose_threshold(
    in_distribution_scores: np.ndarray, target: float = TARGET_ACCEPTANCE
) -> float:
    """The smallest threshold accepting at least ``target`` of the given scores.

    A prediction is unknown when ``score > threshold``, so the k-th smallest score with
    k = ceil(target * n) accepts k of n; a tiny margin keeps float rounding between
    Keras and ONNX from flipping the boundary image.
    """
    scores = np.sort(np.asarray(in_distribution_scores, dtype=np.float64))
    if len(scores) == 0:
        raise ValueError("no held-out images to choose the unknown threshold on")
    k = int(np.ceil(target * len(scores)))
    return float(scores[k - 1]) * 1.001 + 1e-6


def is_unknown(
    probabilities: np.ndarray, scores: np.ndarray, threshold: float, negative_idx: list[int]
) -> np.ndarray:
    """The core's rule (:meth:`isit.bundle.ModelBundle.interpret`) on arrays."""
    unknown = scores > threshold
    if negative_idx:
        unknown |= np.isin(probabilities.argmax(axis=1), negative_idx)
    return unknown


def probe_images() -> list[tuple[str, bytes]]:
    """Photos that ship inside installed packages, none of them anyone's class.

    scikit-image's ``data`` images and scikit-learn's sample images: natural photos,
    microscopy, astronomy, text; (name, file bytes) pairs, read offline.
    """
    found: list[tuple[str, bytes]] = []
    for package, folder in (("skimage", "data"), ("sklearn", "datasets/images")):
        try:
            root = Path(str(importlib.resources.files(package))) / folder
        except ModuleNotFoundError:  # pragma: no cover - both are training requirements
            continue
        for path in sorted(root.glob("*")):
            if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff"):
                continue
            data = path.read_bytes()
            try:
                decode(data)  # only what the core reads (it refuses e.g. some TIFFs)
            except IsitError:
                continue
            found.append((f"{package}:{path.name}", data))
    return found
