"""Unknown scores on EDITED copies of the training photos: a stress test, not a decision.

Since issue 22 the score and its target are chosen by ``bench/bench_unknown_real.py`` on
real photos from other sources; edited copies keep their originals' place in feature
space, so every score looks good here.

    .venv/bin/python bench/hardsets.py            # once: builds /tmp/isit-hard/*
    .venv/bin/python -m bench.bench_unknown [--backbone efficientnet_lite0] [--quick]

In-distribution: /work/shared/data/vader_elsa (the doctor's usable photos). Two sets of
the same photos "from elsewhere" (bench/hardsets.py), each copy of a photo scored only by
a reference that never saw its original:
- ``elsewhere``: each photo as another site would show it: re-framed (a tighter crop, or
  smaller on a coloured or blurred background), re-shot (resolution, white balance,
  exposure, saturation or grey, a little blur or noise, mirror or tilt), re-compressed;
- ``restyled`` (stress): a crop turned into a sketch, grey, posterised, hue-turned or
  heavily blurred and noisy picture.
Unrelated: training.model.unknown.probe_images() (the scikit-image / scikit-learn sample
photos) + /tmp/isit-hard/unrelated (Debian wallpapers and clip art), 232 images.

Protocol: stratified group 5-fold over the originals. For each fold, the reference (the
centroids, the neighbours, the class means and covariance, the head) is fitted on the
other folds' originals; the held-out originals' copies are the shifted sets; the
unrelated images are scored by every fold's reference (n = 5 x images). The threshold
is chosen on the fitting part only, two ways:
- ``same-source 95%``: accept 95% of grouped 5-fold out-of-fold scores (isit before);
- ``leave-one-cluster-out``: each class's photos clustered (k-means, up to 8 clusters),
  each cluster scored by a reference fitted without it; accept isit's target
  (training.settings.UNKNOWN_ACCEPTANCE).

Scores (higher = more unknown): ``nearest photo (isit now)``: 1 - the largest cosine to
a training photo (training.model.unknown); ``centroid`` (1 - max cosine to the class
centroids of the square-rooted features, isit's until issue 22), ``centroid, raw
features`` (isit's before that),
``knn`` (1 - mean cosine of the 5 nearest training photos), ``mahalanobis``
(min over classes, shared Ledoit-Wolf covariance), and ``+maxp`` / ``+centroid``: the mean
of two scores, each divided by its calibration 95th percentile. AUROC: elsewhere vs
unrelated.

Then "a folder named other/": the product's whole rule (isit's head, its unknown score,
leave-one-cluster-out threshold, unknown when the head's answer is ``other``), trained
with and without an ``other/`` class made of every other unrelated image; rejection is
measured on the remaining unrelated images (things like those in other/, never trained
on) and acceptance on the elsewhere photos.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from bench import hardlib

Scorer = Callable[[np.ndarray], np.ndarray]
Fit = Callable[[np.ndarray, np.ndarray], Scorer]
SHIFTED_SETS = {"elsewhere": "vader_elsa_elsewhere", "restyled": "vader_elsa_shifted"}
IN_DIST = hardlib.ROOT.parent / "shared" / "data" / "vader_elsa"
SAME_SOURCE_TARGET = 0.95


def shifted_paths(folder: hardlib.Folder, set_name: str) -> list:
    """The copy (bench/hardsets.py) of each original photo in one shifted set."""
    root = hardlib.HARD_ROOT / SHIFTED_SETS[set_name]
    return [root / p.parent.name / f"{p.stem}-shifted.jpg" for p in folder.paths]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def fit_centroid(x: np.ndarray, y: np.ndarray) -> Scorer:
    """isit's score until issue 22: the class centroids of the square-rooted features."""

    def root(a: np.ndarray) -> np.ndarray:
        return unit(np.sqrt(np.maximum(a, 0.0)))

    centroids = unit(np.stack([root(x)[y == c].mean(axis=0) for c in np.unique(y)]))
    return lambda q: 1.0 - (root(q) @ centroids.T).max(axis=1)


def fit_nearest_photo(x: np.ndarray, y: np.ndarray) -> Scorer:
    """isit's score now (training.model.unknown): the nearest training photo."""
    from training.model import unknown

    reference = unknown.fit_reference(x, y, np.arange(len(y)))
    return lambda q: unknown.ood_scores(q, reference).astype(np.float64)


def fit_centroid_raw(x: np.ndarray, y: np.ndarray) -> Scorer:
    """isit's score before: the same centroids on the raw (not square-rooted) features."""
    centroids = unit(np.stack([unit(x)[y == c].mean(axis=0) for c in np.unique(y)]))
    return lambda q: 1.0 - (unit(q) @ centroids.T).max(axis=1)


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


def fit_doubt(x: np.ndarray, y: np.ndarray) -> Scorer:
    """The head's doubt, 1 - max probability (isit's head at a fixed C: quick)."""
    from training.model.head import fit_linear

    head = fit_linear(x, y, int(y.max()) + 1, c=0.01)
    return lambda q: 1.0 - head.predict_proba(q).max(axis=1).astype(np.float64)


def mean_of(*fits: Fit) -> Callable[[np.ndarray, np.ndarray, Callable], tuple]:
    """Scores combined: each divided by its calibration 95th percentile, then averaged."""

    def fit_and_calibrate(x, y, calibrate):
        scorers = [f(x, y) for f in fits]
        cals = [calibrate(f) for f in fits]
        scales = [np.quantile(c, 0.95) for c in cals]
        combined_cal = np.mean([c / s for c, s in zip(cals, scales, strict=True)], axis=0)

        def score(q):
            parts = [f(q) / s for f, s in zip(scorers, scales, strict=True)]
            return np.mean(parts, axis=0)

        return score, combined_cal

    return fit_and_calibrate


SCORES = {
    "centroid, raw features": mean_of(fit_centroid_raw),
    "centroid": mean_of(fit_centroid),
    "nearest photo (isit now)": mean_of(fit_nearest_photo),
    "knn": mean_of(fit_knn),
    "mahalanobis": mean_of(fit_mahalanobis),
    "centroid+maxp": mean_of(fit_centroid, fit_doubt),
    "mahalanobis+centroid": mean_of(fit_mahalanobis, fit_centroid),
}


def same_source(x, y, groups, fit: Fit) -> np.ndarray:
    """Grouped 5-fold out-of-fold scores of the fitting photos."""
    scores = np.zeros(len(y))
    for fit_idx, held_idx in hardlib.outer_splits(y, groups):
        scores[held_idx] = fit(x[fit_idx], y[fit_idx])(x[held_idx])
    return scores


def leave_one_cluster_out(x, y, groups, fit: Fit) -> np.ndarray:
    """Each cluster (the unknown module's clustering) scored by a reference fitted without it."""
    from training.model.unknown import look_alike_clusters

    labels = look_alike_clusters(x, y, groups)
    scores = np.zeros(len(y))
    for cluster in np.unique(labels):
        held = labels == cluster
        scores[held] = fit(x[~held], y[~held])(x[held])
    return scores


def calibrations():
    from training.settings import UNKNOWN_ACCEPTANCE

    loco = f"leave-one-cluster-out {UNKNOWN_ACCEPTANCE:.0%}"
    return {
        f"same-source {SAME_SOURCE_TARGET:.0%}": (same_source, SAME_SOURCE_TARGET),
        loco: (leave_one_cluster_out, UNKNOWN_ACCEPTANCE),
    }


@dataclass
class Sets:
    x: np.ndarray  # the originals
    y: np.ndarray
    groups: np.ndarray
    shifted: dict[str, np.ndarray]  # set name -> copies, row for row with x
    unrelated: np.ndarray


def auroc(negative: np.ndarray, positive: np.ndarray) -> float:
    """P(score of an unrelated image > score of an in-class one)."""
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.zeros(len(negative)), np.ones(len(positive))]
    return float(roc_auc_score(labels, np.r_[negative, positive]))


def score_row(sets: Sets, name: str, how: str) -> list[str]:
    """One score with one threshold rule, over the outer folds."""
    from training.model.unknown import choose_threshold

    calibrate_with, target = calibrations()[how]
    accepted = {s: 0 for s in sets.shifted}
    rejected, elsewhere_scores, unrelated_scores = 0, [], []
    for fit_idx, held_idx in hardlib.outer_splits(sets.y, sets.groups):
        xf, yf, gf = sets.x[fit_idx], sets.y[fit_idx], sets.groups[fit_idx]
        score, cal = SCORES[name](xf, yf, partial(calibrate_with, xf, yf, gf))
        threshold = choose_threshold(cal, target)
        shifted = {set_name: score(xs[held_idx]) for set_name, xs in sets.shifted.items()}
        for set_name, s_shifted in shifted.items():
            accepted[set_name] += int((s_shifted <= threshold).sum())
        s_unrelated = score(sets.unrelated)
        rejected += int((s_unrelated > threshold).sum())
        elsewhere_scores.append(shifted["elsewhere"])
        unrelated_scores.append(s_unrelated)
    area = auroc(np.concatenate(elsewhere_scores), np.concatenate(unrelated_scores))
    n = len(sets.y)
    return [name, how, f"{area:.3f}",
            *(hardlib.proportion(accepted[s], n) for s in sets.shifted),
            hardlib.proportion(rejected, len(sets.unrelated) * len(unrelated_scores))]  # fmt: skip


def product_rule(x, y, groups, n_classes: int, negative: int | None):
    """isit's rule, fitted on these photos: (is_unknown(features) -> bool array)."""
    from isit.bundle import is_unknown as rule
    from training.model import unknown
    from training.model.head import HeadConfig, fit_fold_calibrated

    head, _ = fit_fold_calibrated(x, y, HeadConfig(), n_classes=n_classes, groups=groups)
    from training.settings import UNKNOWN_ACCEPTANCE

    reference = unknown.fit_reference(x, y, groups)
    threshold = unknown.choose_threshold(reference.calibration, UNKNOWN_ACCEPTANCE)
    negatives = [] if negative is None else [negative]

    def is_unknown(q: np.ndarray) -> np.ndarray:
        scores = unknown.ood_scores(q, reference)
        return rule(head.predict_proba(q), scores, threshold, negatives)

    return is_unknown


def other_folder_rows(sets: Sets) -> list[list[str]]:
    """With vs without an ``other/`` class (every other unrelated image)."""
    in_other = np.arange(len(sets.unrelated)) % 2 == 0
    x_other, x_test = sets.unrelated[in_other], sets.unrelated[~in_other]
    rows = []
    for with_other in (False, True):
        accepted = rejected = 0
        for fit_idx, held_idx in hardlib.outer_splits(sets.y, sets.groups):
            x, y, g = sets.x[fit_idx], sets.y[fit_idx], sets.groups[fit_idx]
            negative = None
            if with_other:
                negative = int(y.max()) + 1
                x = np.concatenate([x, x_other])
                y = np.concatenate([y, np.full(len(x_other), negative)])
                g = np.concatenate([g, [f"other-{i}" for i in range(len(x_other))]])
            rule = product_rule(x, y, g, int(y.max()) + 1, negative)
            accepted += int((~rule(sets.shifted["elsewhere"][held_idx])).sum())
            rejected += int(rule(x_test).sum())
        rows.append([
            f"with other/ ({len(x_other)} images)" if with_other else "without other/",
            hardlib.proportion(accepted, len(sets.y)),
            hardlib.proportion(rejected, len(x_test) * hardlib.OUTER_FOLDS),
        ])  # fmt: skip
        print(" | ".join(rows[-1]), flush=True)
    return rows


def load_sets(backbone: str) -> Sets:
    from training.model.unknown import probe_images

    folder = hardlib.load_folder(IN_DIST)
    unrelated = [b for _, b in probe_images()]
    unrelated += [p.read_bytes() for p in sorted((hardlib.HARD_ROOT / "unrelated").iterdir())]
    return Sets(
        x=hardlib.features(folder.paths, backbone).astype(np.float64),
        y=folder.y,
        groups=folder.groups,
        shifted={
            s: hardlib.features(shifted_paths(folder, s), backbone).astype(np.float64)
            for s in SHIFTED_SETS
        },
        unrelated=hardlib.feature_bytes(unrelated, backbone).astype(np.float64),
    )


def main() -> int:
    from training.settings import DEFAULT_BACKBONE

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--quick", action="store_true", help="isit's score and the one before")
    args = parser.parse_args()
    missing = [p for p in [IN_DIST, *(hardlib.HARD_ROOT / s for s in SHIFTED_SETS.values())]
               if not p.is_dir()]  # fmt: skip
    if missing:
        print(f"skipped: needs {', '.join(map(str, missing))} (run bench/hardsets.py)")
        return 0
    sets = load_sets(args.backbone)
    rows = []
    for name in ["centroid", "nearest photo (isit now)"] if args.quick else SCORES:
        for how in calibrations():
            rows.append(score_row(sets, name, how))
            print(" | ".join(rows[-1]), flush=True)
    other_rows = other_folder_rows(sets)
    print(
        f"\nbackbone {args.backbone}; {len(sets.y)} in-class photos (vader_elsa), their copies"
        f" from elsewhere scored out of fold; {len(sets.unrelated)} unrelated images, scored"
        " by each of 5 folds"
    )
    header = ["score", "threshold from", "AUROC (elsewhere)", "elsewhere accepted",
              "restyled accepted (stress)", "unrelated rejected"]  # fmt: skip
    print(hardlib.table(header, rows))
    print("\nisit's rule with a folder named other/ (half the unrelated images; rejection "
          "measured on the other half)")  # fmt: skip
    print(hardlib.table(["training", "elsewhere accepted", "unrelated rejected"], other_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
