"""Grouped, stratified folds and out-of-fold scoring: "score each photo with something
that never saw it" (the cross-validation folds, the label review's held-out
probabilities).

Duplicates share a group, so a photo is never scored by a model that saw its copy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.settings import FOLDS, SEED

# fit_and_score(fit_idx, held_idx) -> scores of the held photos, shape [len(held_idx), ...]
FoldScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def fold_count(y: np.ndarray, folds: int) -> int:
    """``folds`` lowered to the size of the smallest class present, so every class can
    appear in every fold; 0 when that is under 2 (no folds: nothing to hold out)."""
    counts = np.bincount(np.asarray(y, np.int64))
    present = counts[counts > 0]
    k = min(folds, int(present.min())) if len(present) else 0
    return k if k >= 2 else 0


def grouped_folds(
    y: np.ndarray, groups: np.ndarray, folds: int = FOLDS, seed: int = SEED
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(fit_idx, held_idx)`` pairs of a stratified group k-fold, ``k`` from
    :func:`fold_count` (``[]`` when it is 0); groups never straddle. The one fold
    helper: cross-validation's outer folds, the head's inner folds choosing C, the label
    review's folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    k = fold_count(y, folds)
    if not k:
        return []
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def out_of_fold(
    fit_and_score: FoldScorer,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    folds: int = FOLDS,
    seed: int = SEED,
) -> np.ndarray | None:
    """Every photo's score from the fold that held it out, in input order; None when
    there are no folds (a class under 2 photos)."""
    result: np.ndarray | None = None
    for fit_idx, held_idx in grouped_folds(y, groups, folds, seed):
        scores = np.asarray(fit_and_score(fit_idx, held_idx))
        if result is None:
            result = np.zeros((len(y), *scores.shape[1:]), dtype=scores.dtype)
        result[held_idx] = scores
    return result
