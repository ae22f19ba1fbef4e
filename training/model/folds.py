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


def fold_count(y: np.ndarray, folds: int, n_classes: int | None = None) -> int:
    """``folds``, lowered so every class can appear in every fold (at least 2)."""
    smallest = int(np.bincount(y, minlength=n_classes or 0).min()) if len(y) else 2
    return max(2, min(folds, smallest))


def grouped_folds(
    y: np.ndarray,
    groups: np.ndarray,
    folds: int = FOLDS,
    seed: int = SEED,
    n_classes: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(fit_idx, held_idx)`` pairs of a stratified group k-fold; groups never straddle."""
    from sklearn.model_selection import StratifiedGroupKFold

    k = fold_count(y, folds, n_classes)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def out_of_fold(
    fit_and_score: FoldScorer,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    folds: int = FOLDS,
    seed: int = SEED,
    n_classes: int | None = None,
) -> np.ndarray:
    """Every photo's score from the fold that held it out, in input order."""
    result: np.ndarray | None = None
    for fit_idx, held_idx in grouped_folds(y, groups, folds, seed, n_classes):
        scores = np.asarray(fit_and_score(fit_idx, held_idx))
        if result is None:
            result = np.zeros((len(y), *scores.shape[1:]), dtype=scores.dtype)
        result[held_idx] = scores
    return result if result is not None else np.zeros(0, dtype=np.float32)
