"""Unknown scores compared: shifted in-class photos accepted vs unrelated photos rejected.

    .venv/bin/python bench/hardsets.py            # once: builds /tmp/isit-hard/*
    .venv/bin/python bench/bench_unknown.py [--backbone mobilenet_v2] [--clusters 5]

In-distribution: /work/shared/data/vader_elsa (the doctor's usable photos). Shifted
in-class: /tmp/isit-hard/vader_elsa_shifted (each photo re-styled: crop + sketch, grey,
posterise, hue turn or blur + noise). Unrelated: training.unknown.probe_images() (the
scikit-image / scikit-learn sample photos) + /tmp/isit-hard/unrelated (Debian
wallpapers and clip art).

Protocol: stratified group 5-fold over the originals. For each fold, the reference (the
centroids, the neighbours, the class means and covariance, the head) is fitted on the
other folds' originals; the held-out originals' re-styled copies are the shifted set
(never seen, not even in their original style); the unrelated images are scored by every
fold's reference (each fold's answers pooled: n = 5 x images). The threshold accepts
95% of calibration scores computed on the fitting part only, two ways:
- ``same-source``: grouped 5-fold out-of-fold scores (what isit does today);
- ``leave-one-cluster-out``: each class's photos clustered (k-means on unit features),
  each cluster scored against a reference fitted without it.

Scores (higher = more unknown): ``centroid`` (1 - max cosine to the class centroids,
today's), ``knn`` (1 - mean cosine of the k=5 nearest training photos), ``mahalanobis``
(min over classes, shared Ledoit-Wolf covariance), each also ``+maxp``: the mean of the
score and the head's doubt (1 - max probability), each divided by its calibration 95th
percentile. AUROC: shifted in-class vs unrelated.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import hardlib
import numpy as np

Scorer = Callable[[np.ndarray], np.ndarray]
SHIFTED = "vader_elsa_shifted"
IN_DIST = hardlib.ROOT.parent / "shared" / "data" / "vader_elsa"


def shifted_paths(folder: hardlib.Folder) -> list:
    """The re-styled copy (bench/hardsets.py) of each original photo."""
    root = hardlib.HARD_ROOT / SHIFTED
    return [root / p.parent.name / f"{p.stem}-shifted.jpg" for p in folder.paths]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def fit_centroid(x: np.ndarray, y: np.ndarray) -> Scorer:
    from training import unknown

    centroids = unknown.class_centroids(x, y, int(y.max()) + 1)
    return lambda q: unknown.ood_scores(q, centroids).astype(np.float64)


def fit_knn(x: np.ndarray, y: np.ndarray, k: int = 5) -> Scorer:
    ref = unit(x)

    def score(q: np.ndarray) -> np.ndarray:
        sim = unit(q) @ ref.T
        top = -np.sort(-sim, axis=1)[:, : min(k, ref.shape[0])]
        return 1.0 - top.mean(axis=1)

    return score


def fit_mahalanobis(x: np.ndarray, y: np.ndarray) -> Scorer:
    from sklearn.covariance import LedoitWolf

    classes = np.unique(y)
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    residuals = x - means[np.searchsorted(classes, y)]
    precision = LedoitWolf().fit(residuals).precision_

    def score(q: np.ndarray) -> np.ndarray:
        d = q[:, None, :] - means[None]
        return np.einsum("ncd,de,nce->nc", d, precision, d).min(axis=1)

    return score


def fit_head(x: np.ndarray, y: np.ndarray) -> Scorer:
    from training.head import fit_fold

    model = fit_fold(x, y, n_classes=int(y.max()) + 1)
    return lambda q: 1.0 - model.predict_proba(q).max(axis=1).astype(np.float64)


SCORES: dict[str, Callable[[np.ndarray, np.ndarray], Scorer]] = {
    "centroid": fit_centroid,
    "knn": fit_knn,
    "mahalanobis": fit_mahalanobis,
}


def calibration(x, y, groups, fit, how: str, clusters: int, seed: int = 0) -> np.ndarray:
    """Scores of the fitting photos, each by a reference that did not see it."""
    from sklearn.cluster import KMeans

    scores = np.zeros(len(y))
    if how == "same-source":
        for fit_idx, held_idx in hardlib.outer_splits(y, groups, seed=seed):
            scores[held_idx] = fit(x[fit_idx], y[fit_idx])(x[held_idx])
        return scores
    labels = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = max(2, min(clusters, len(idx) // 5))
        km = KMeans(k, n_init=3, random_state=seed).fit(unit(x[idx]))
        labels[idx] = c * 1000 + km.labels_
    for cluster in np.unique(labels):
        held = labels == cluster
        scores[held] = fit(x[~held], y[~held])(x[held])
    return scores


def auroc(negative: np.ndarray, positive: np.ndarray) -> float:
    """P(score of an unrelated image > score of a shifted in-class one)."""
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.zeros(len(negative)), np.ones(len(positive))]
    return float(roc_auc_score(labels, np.r_[negative, positive]))


def main() -> int:
    from training.unknown import choose_threshold, probe_images

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--clusters", type=int, default=5)
    args = parser.parse_args()
    shifted_root = hardlib.HARD_ROOT / SHIFTED
    if not IN_DIST.is_dir() or not shifted_root.is_dir():
        print(f"skipped: needs {IN_DIST} and {shifted_root} (run bench/hardsets.py)")
        return 0
    folder = hardlib.load_folder(IN_DIST)
    x = hardlib.features(folder.paths, args.backbone).astype(np.float64)
    xs = hardlib.features(shifted_paths(folder), args.backbone).astype(np.float64)
    unrelated = [b for _, b in probe_images()]
    unrelated += [p.read_bytes() for p in sorted((hardlib.HARD_ROOT / "unrelated").iterdir())]
    xu = hardlib.feature_bytes(unrelated, args.backbone).astype(np.float64)
    y, groups = folder.y, folder.groups

    rows = []
    for name, fit in SCORES.items():
        for combined in (False, True):
            for how in ("same-source", "leave-one-cluster-out"):
                shifted_scores, unrelated_scores = [], []
                accepted = rejected = 0
                for fit_idx, held_idx in hardlib.outer_splits(y, groups):
                    xf, yf, gf = x[fit_idx], y[fit_idx], groups[fit_idx]
                    score = fit(xf, yf)
                    cal = calibration(xf, yf, gf, fit, how, args.clusters)
                    s_shift, s_unrel = score(xs[held_idx]), score(xu)
                    if combined:
                        doubt = fit_head(xf, yf)
                        cal_doubt = calibration(xf, yf, gf, fit_head, how, args.clusters)
                        q_s, q_d = np.quantile(cal, 0.95), np.quantile(cal_doubt, 0.95)
                        cal = (cal / q_s + cal_doubt / q_d) / 2
                        s_shift = (s_shift / q_s + doubt(xs[held_idx]) / q_d) / 2
                        s_unrel = (s_unrel / q_s + doubt(xu) / q_d) / 2
                    threshold = choose_threshold(cal)
                    accepted += int((s_shift <= threshold).sum())
                    rejected += int((s_unrel > threshold).sum())
                    shifted_scores.append(s_shift)
                    unrelated_scores.append(s_unrel)
                folds = len(unrelated_scores)
                area = auroc(np.concatenate(shifted_scores), np.concatenate(unrelated_scores))
                rows.append([
                    name + ("+maxp" if combined else ""), how, f"{area:.3f}",
                    hardlib.proportion(accepted, len(y)),
                    hardlib.proportion(rejected, len(xu) * folds),
                ])  # fmt: skip
                print(" | ".join(rows[-1]), flush=True)
    print(
        f"\nbackbone {args.backbone}; {len(y)} in-class photos (vader_elsa), their re-styled "
        f"copies scored out of fold; {len(xu)} unrelated images, scored by each of 5 folds"
    )
    header = ["score", "threshold from", "AUROC", "shifted accepted", "unrelated rejected"]
    print(hardlib.table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
