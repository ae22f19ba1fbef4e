"""The "unknown" score: how unlike the training photos an image is.

Score = cosine distance from the image's L2-normalised backbone features to the nearest
class centroid (mean direction of that class's normalised training features):
``ood = 1 - max_c cos(f, centroid_c)``; 0 = right on a class, higher = farther away.

Why not also the head's doubt (1 - max probability), as first planned: we measured
``mean(doubt/q95, distance/q95)`` (and weights 0.5, 0.25, 0.1 on the doubt) against the
distance alone, thresholds at 95% in-distribution acceptance, on vader_elsa (482 photos)
and on the generated shapes. The distance alone accepted more held-out photos (0.925 vs
0.85-0.90 on vader_elsa) AND rejected more unrelated ones (0.967 vs 0.83-0.90): a head
trained on two classes is confidently wrong about a cat photo, and its doubt mostly flags
in-distribution photos that sit between two classes. The probability is still reported
as the answer's confidence; a negatives class (``other``/``unknown``) covers "none of
the above" explicitly.

The exported ONNX graph computes the same formula (see :mod:`training.export_model`);
the threshold is chosen on out-of-fold distances of the training and validation photos
(centroids from the other folds, duplicates grouped) so that at least 95% of them are
accepted, and stored in the model metadata.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np

from isit.errors import IsitError
from isit.imaging import decode
from training import settings

METHOD = "nearest_class_centroid_cosine_distance"
TARGET_ACCEPTANCE = 0.95
NEGATIVE_LABELS = ("other", "unknown")
CALIBRATION_FOLDS = settings.FOLDS


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def class_centroids(features: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """``[C, D]`` unit-length mean direction of each class's L2-normalised features."""
    unit = l2_normalise(features)
    centroids = np.stack([unit[y == c].mean(axis=0) for c in range(n_classes)])
    return l2_normalise(centroids)


def ood_scores(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Cosine distance to the nearest centroid, float32 (what the ONNX graph outputs)."""
    if len(features) == 0:
        return np.zeros(0, dtype=np.float32)
    similarity = l2_normalise(features) @ centroids.T
    return (1.0 - similarity.max(axis=1)).astype(np.float32)


def out_of_fold_scores(
    features: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    folds: int = CALIBRATION_FOLDS,
    seed: int = 0,
) -> np.ndarray:
    """Each photo's score against centroids computed without it (nor its duplicates).

    In-distribution photos the centroids never saw: what the threshold is chosen on.
    """
    from training.oof import out_of_fold

    def fit_and_score(fit_idx: np.ndarray, held_idx: np.ndarray) -> np.ndarray:
        unit = l2_normalise(features[fit_idx])
        centroids = np.stack(
            [
                unit[y[fit_idx] == c].mean(axis=0)
                if (y[fit_idx] == c).any()
                else np.zeros(features.shape[1], np.float32)
                for c in range(n_classes)
            ]
        )
        return ood_scores(features[held_idx], l2_normalise(centroids))

    scores = out_of_fold(fit_and_score, y, groups, folds=folds, seed=seed, n_classes=n_classes)
    return scores.astype(np.float32) if len(scores) else np.zeros(len(y), np.float32)


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
