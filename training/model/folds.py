"""Grouped, stratified folds and out-of-fold scoring: "score each photo with something
that never saw it" (the cross-validation folds, the label review's held-out
probabilities).

Duplicates share a group, so a photo is never scored by a model that saw its copy.
"""

from __future__ import annotations

import math
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
    review's folds. The folds are scikit-learn's ``StratifiedGroupKFold(k, shuffle=True,
    random_state=seed)``'s, computed by :func:`_fold_of_groups`."""
    k = fold_count(y, folds)
    if not k:
        return []
    y = np.asarray(y)
    _, y_inv, y_cnt = np.unique(y, return_inverse=True, return_counts=True)
    _, groups_inv = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(groups_inv.max()) + 1 if len(groups_inv) else 0
    if k > n_groups:
        raise ValueError(f"Cannot have {k} folds with only {n_groups} groups.")
    counts = np.zeros((n_groups, len(y_cnt)))
    np.add.at(counts, (groups_inv.ravel(), y_inv.ravel()), 1)
    perm = np.arange(n_groups)
    np.random.RandomState(seed).shuffle(perm)
    fold_of_group = np.empty(n_groups, np.int64)
    fold_of_group[perm] = _fold_of_groups(counts[perm], y_cnt, k)
    fold_of_row = fold_of_group[groups_inv.ravel()]
    return [(np.flatnonzero(fold_of_row != i), np.flatnonzero(fold_of_row == i)) for i in range(k)]


def _fold_of_groups(counts: np.ndarray, y_cnt: np.ndarray, k: int) -> np.ndarray:
    """scikit-learn's greedy StratifiedGroupKFold assignment (groups, in their shuffled
    order, sorted by the spread of their class counts; each to the fold whose class
    proportions it evens out most; near ties to the smaller fold), with every fold's
    candidate scored in one NumPy call instead of one per fold: the same arithmetic in
    the same order, so the same folds, without the Python loop that cost seconds per
    cross-validation on folders of single-photo groups."""
    order = np.argsort(-np.std(counts, axis=1), kind="stable")
    per_fold = np.zeros((k, counts.shape[1]))
    chosen = np.empty(len(counts), np.int64)
    eye = np.eye(k)[:, :, None]
    for g in order:
        proposals = per_fold[None, :, :] + eye * counts[g][None, None, :]
        evals = np.mean(np.std(proposals / y_cnt, axis=1), axis=1)
        sizes = per_fold.sum(axis=1)
        best, min_eval, min_size = 0, math.inf, math.inf
        for i in range(k):
            e, size = float(evals[i]), float(sizes[i])
            close = abs(e - min_eval) <= 1e-8 + 1e-5 * abs(min_eval)  # np.isclose
            if e < min_eval or (close and size < min_size):
                best, min_eval, min_size = i, e, size
        per_fold[best] += counts[g]
        chosen[g] = best
    return chosen


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
