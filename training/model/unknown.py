"""The "unknown" score: how unlike every training photo an image is.

Score = cosine distance from the image's backbone features to the most similar
training photo's (:class:`Reference`: the unit-length features of every training photo,
or k-means centres of its look-alike clusters past :data:`REFERENCE_CAP` rows):
``ood = 1 - max_r cos(f, r)``; 0 = a copy of a training photo, higher = farther away.

Why the nearest photo and not one centroid per class (the first version): real classes
have several looks (night and day, photos and merchandise), and a centroid sits between
them, so a minority look was refused wholesale while unrelated photos near the middle
got in. On real photos from other sources (``bench/bench_unknown_real.py``: development
sources for every choice, held-out sources only reported) the nearest photo accepted
more in-class photos from other sources and rejected more unrelated ones. The raw
features (no square root) and the acceptance target were chosen on the development
sources there.

Threshold: photos from elsewhere fall farther from the training photos than your own
held-out photos do, so it is chosen on leave-one-cluster-out scores: each class's photos
are split by k-means into up to 8 look-alike clusters, and each photo is scored against
the reference rows of the other clusters only; the threshold accepts
``unknown_acceptance`` of those (a training setting). The exported ONNX graph computes
the same score (:func:`training.model.graph.add_unknown_score`) and the threshold is
stored in the model metadata; the rule that turns both into "unknown" is the core's
:func:`isit.bundle.is_unknown`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isit.errors import IsitError
from isit.imaging import decode
from isit.metadata import UNKNOWN_METHOD
from training.workers import single_threaded

METHOD = UNKNOWN_METHOD  # named in the core: the model file's metadata says it
NEGATIVE_LABELS = ("other", "unknown")
CALIBRATION_CLUSTERS = 8  # per class (fewer when a class has under 40 photos)
# At most this many reference rows ship in model.onnx (float16: 2.5 KB each at 1280
# features); a larger folder keeps k-means centres of its look-alike clusters instead.
REFERENCE_CAP = 4096
_QUERY_CHUNK = 1024  # rows scored at once: bounds memory on large folders


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def embed(features: np.ndarray) -> np.ndarray:
    """The unit-length backbone features: the space the score measures cosines in."""
    return l2_normalise(np.asarray(features, np.float32))


def _cluster_space(features: np.ndarray) -> np.ndarray:
    """Unit square-rooted features: where the look-alike clusters are found (the square
    root keeps a few large activations from deciding the clusters alone)."""
    return l2_normalise(np.sqrt(np.maximum(np.asarray(features, np.float32), 0.0)))


@dataclass(frozen=True)
class Reference:
    """What the unknown score compares with, as model.onnx stores it, and the scores its
    threshold is chosen on."""

    rows: np.ndarray  # [R, D] float16, unit length: training photos or cluster centres
    # [N] each fitted photo's leave-one-cluster-out score: against the rows of the other
    # look-alike clusters only
    calibration: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


def fit_reference(
    features: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    cap: int = REFERENCE_CAP,
    seed: int = 0,
) -> Reference:
    """Every training photo (exact copies once), or past ``cap`` rows, k-means centres of
    each look-alike cluster, as many per cluster as its share of the photos; with each
    photo's leave-one-cluster-out score.

    Photos from elsewhere (other sites, cameras, crops) fall farther from the training
    photos than your own held-out photos do; a cluster of look-alikes left out imitates
    that, so the threshold chosen on these scores accepts them (see the module docstring).
    """
    groups = np.asarray(groups)
    if len(y) == 0:
        return Reference(np.zeros((0, features.shape[1]), np.float16), np.zeros(0, np.float32))
    clusters = look_alike_clusters(features, y, groups, seed=seed)
    unit = embed(features)
    rows, owners = _rows_and_owners(unit, clusters, groups, cap, seed)
    calibration = _nearest_distance(unit, rows.astype(np.float32), clusters, owners)
    return Reference(rows, calibration)


def _rows_and_owners(
    unit: np.ndarray, clusters: np.ndarray, groups: np.ndarray, cap: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The reference rows (float16) and the look-alike cluster each stands for."""
    _, first = np.unique(groups, return_index=True)
    keep = np.sort(first)  # a copy adds nothing a nearest-photo score could use
    unit, clusters = unit[keep], clusters[keep]
    if len(unit) <= cap:
        return unit.astype(np.float16), clusters
    from sklearn.cluster import KMeans

    rows, owners = [], []
    for label in np.unique(clusters):
        members = unit[clusters == label]
        k = max(1, int(cap * len(members) / len(unit)))
        centres = members
        if k < len(members):
            with single_threaded():
                fitted = KMeans(k, n_init=1, max_iter=50, random_state=seed).fit(members)
            centres = fitted.cluster_centers_
        rows.append(l2_normalise(centres))
        owners.append(np.full(len(centres), label))
    return np.concatenate(rows).astype(np.float16), np.concatenate(owners)


def ood_scores(features: np.ndarray, reference: Reference) -> np.ndarray:
    """Cosine distance to the nearest reference row, float32 (what the ONNX graph outputs)."""
    return _nearest_distance(embed(features), reference.rows.astype(np.float32))


def _nearest_distance(
    unit: np.ndarray,
    rows: np.ndarray,
    query_owner: np.ndarray | None = None,
    row_owner: np.ndarray | None = None,
) -> np.ndarray:
    """``1 - max cos`` of embedded queries to ``rows``; with owners, rows of the query's
    own cluster are left out (leave-one-cluster-out)."""
    out = np.ones(len(unit), np.float32)
    if len(rows) == 0:
        return out
    for start in range(0, len(unit), _QUERY_CHUNK):
        part = slice(start, start + _QUERY_CHUNK)
        similarity = unit[part] @ rows.T
        if query_owner is not None and row_owner is not None:
            similarity[query_owner[part, None] == row_owner[None, :]] = -1.0
        out[part] = np.maximum(1.0 - similarity.max(axis=1), 0.0)  # float16 rows: >= 0
    return out


def look_alike_clusters(
    features: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    clusters: int = CALIBRATION_CLUSTERS,
    seed: int = 0,
) -> np.ndarray:
    """A cluster id per photo: each class's photos split by k-means into up to
    ``clusters`` look-alike groups (at least 5 photos per cluster on average); copies
    (one duplicate group) always share their first member's cluster."""
    return _clusters_of(_cluster_space(features), y, np.asarray(groups), clusters, seed)


def _clusters_of(
    unit: np.ndarray, y: np.ndarray, groups: np.ndarray, clusters: int, seed: int
) -> np.ndarray:
    from sklearn.cluster import KMeans

    labels = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = min(clusters, len(idx) // 5)
        found = np.zeros(len(idx), np.int64)
        if k >= 2:
            with single_threaded():  # a few hundred rows: threads only fight
                found = KMeans(k, n_init=2, random_state=seed).fit(unit[idx]).labels_
        labels[idx] = int(c) * (clusters + 1) + found
    first = {}
    for i, g in enumerate(groups):
        first.setdefault(g, labels[i])
    return np.array([first[g] for g in groups], dtype=np.int64)


def choose_threshold(in_distribution_scores: np.ndarray, target: float) -> float:
    """The smallest threshold accepting at least ``target`` of the given scores.

    A prediction is unknown when ``score > threshold``, so the k-th smallest score with
    k = ceil(target * n) accepts k of n; a tiny margin keeps float rounding between
    NumPy and ONNX from flipping the boundary image.
    """
    scores = np.sort(np.asarray(in_distribution_scores, dtype=np.float64))
    if len(scores) == 0:
        raise ValueError("no held-out images to choose the unknown threshold on")
    k = max(1, int(np.ceil(target * len(scores))))
    return float(scores[k - 1]) * 1.001 + 1e-6


def probe_images(readable: Callable[[bytes], bool] | None = None) -> list[tuple[str, bytes]]:
    """Photos that ship inside installed packages, none of them anyone's class.

    scikit-image's ``data`` images and scikit-learn's sample images: natural photos,
    microscopy, astronomy, text; (name, file bytes) pairs, read offline. Only those the
    core decodes; ``readable(data)``: True for bytes known to decode (their features are
    cached), which are not decoded again.
    """
    found: list[tuple[str, bytes]] = []
    for package, folder in (("skimage", "data"), ("sklearn", "datasets/images")):
        # Found, not imported: importing scikit-learn here would cost more than the rest.
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue  # pragma: no cover - both are training requirements
        root = Path(next(iter(spec.submodule_search_locations))) / folder
        for path in sorted(root.glob("*")):
            if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff"):
                continue
            data = path.read_bytes()
            if readable is None or not readable(data):
                try:
                    decode(data)  # only what the core reads (it refuses e.g. some TIFFs)
                except IsitError:
                    continue
            found.append((f"{package}:{path.name}", data))
    return found
