"""Heads side by side on hard folders: isit's old head, tuned logistic regression, the new head.

    .venv/bin/python bench/hardsets.py            # once: builds /tmp/isit-hard/*
    .venv/bin/python -m bench.bench_heads [--backbone mobilenet_v2] [--folders ...]
        [--no-hidden]

For each folder: the doctor's usable photos (duplicates grouped), features from the cache,
stratified group 5-fold CV (the same folds for every head). Each head is fitted on the
outer training part only and scored on the held-out fold. Prints accuracy over all photos
(each scored once, out of fold) with n and a Wilson 95% interval, and the total fit time
over the 5 folds.

Heads:
- ``old``: isit's head before issue 13 (bench/legacy_head.py: Keras softmax, dropout 0.2,
  L2 1e-4, Adam, early stopping on a grouped 15% slice of the training part, as the
  cross-validation folds did then);
- ``logreg-cv``: scikit-learn StandardScaler + LogisticRegressionCV (balanced class
  weights, Cs 1e-4..1e4, accuracy, inner stratified group 5-fold);
- ``new``: training/model/head.py (standardised softmax regression, exact lbfgs, C by
  inner grouped CV accuracy, loaded into the Keras head that is exported);
- ``new-hidden``: training/model/head.py with ``hidden=256`` (Keras, Normalization layer
  first).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from bench import hardlib

Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, int], Callable[[np.ndarray], np.ndarray]]


def fit_old(x: np.ndarray, y: np.ndarray, g: np.ndarray, n_classes: int):
    from sklearn.model_selection import GroupShuffleSplit

    from bench.legacy_head import HeadConfig, HeadTrainer, predict_proba

    inner = GroupShuffleSplit(n_splits=1, test_size=0.15, random_state=0)
    fit_idx, stop_idx = next(inner.split(x, y, g))
    trainer = HeadTrainer(x.shape[1], n_classes, HeadConfig(seed=0))
    model = trainer.fit(x[fit_idx], y[fit_idx], x[stop_idx], y[stop_idx]).model
    return lambda xt: predict_proba(model, xt)


def fit_logreg_cv(x: np.ndarray, y: np.ndarray, g: np.ndarray, n_classes: int):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from training.model.folds import grouped_folds

    scaler = StandardScaler().fit(x)
    splits = grouped_folds(y, g, 5, 0)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegressionCV(Cs=10, cv=splits, class_weight="balanced", max_iter=1000).fit(
            scaler.transform(x), y
        )
    return lambda xt: model.predict_proba(scaler.transform(xt))


def fit_new(x: np.ndarray, y: np.ndarray, g: np.ndarray, n_classes: int, hidden: int = 0):
    from training.model.head import HeadConfig, HeadTrainer, predict_proba

    trainer = HeadTrainer(x.shape[1], n_classes, HeadConfig(hidden=hidden))
    if hidden:  # the Keras path stops early on a grouped slice, like the old head
        from sklearn.model_selection import GroupShuffleSplit

        inner = GroupShuffleSplit(n_splits=1, test_size=0.15, random_state=0)
        fit_idx, stop_idx = next(inner.split(x, y, g))
        result = trainer.fit(x[fit_idx], y[fit_idx], x[stop_idx], y[stop_idx])
    else:
        result = trainer.fit(x, y, groups=g)
    model = result.model
    return lambda xt: predict_proba(model, xt)


def evaluate(fit: Fit, x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_classes: int):
    """(correct count, n, fit seconds over the folds)."""
    correct, seconds = 0, 0.0
    for train_idx, held_idx in hardlib.outer_splits(y, groups):
        start = time.perf_counter()
        predict = fit(x[train_idx], y[train_idx], groups[train_idx], n_classes)
        seconds += time.perf_counter() - start
        correct += int((predict(x[held_idx]).argmax(axis=1) == y[held_idx]).sum())
    return correct, len(y), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--folders", nargs="+", default=list(hardlib.HARD_FOLDERS))
    parser.add_argument("--no-hidden", action="store_true", help="skip the hidden-layer head")
    args = parser.parse_args()
    heads: dict[str, Fit] = {"old": fit_old, "logreg-cv": fit_logreg_cv, "new": fit_new}
    if not args.no_hidden:
        heads["new-hidden"] = lambda x, y, g, c: fit_new(x, y, g, c, hidden=256)
    import keras  # noqa: F401  (imported before timing: not any head's cost)

    rows = []
    for name in args.folders:
        path = hardlib.HARD_ROOT / name
        if not path.is_dir():
            print(f"skipped {name}: no {path} (run bench/hardsets.py)")
            continue
        folder = hardlib.load_folder(path)
        x = hardlib.features(folder.paths, args.backbone)
        for head, fit in heads.items():
            k, n, seconds = evaluate(fit, x, folder.y, folder.groups, len(folder.labels))
            rows.append([f"{name} ({len(folder.labels)} classes)", head,
                         hardlib.proportion(k, n), f"{seconds:.1f}"])  # fmt: skip
            print(" | ".join(rows[-1]), flush=True)
    print(f"\nbackbone {args.backbone}; grouped stratified 5-fold CV, accuracy (Wilson 95%)")
    print(hardlib.table(["folder", "head", "accuracy (95% CI) n", "fit s (5 folds)"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
