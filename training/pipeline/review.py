"""Review: photos that are probably in the wrong folder (never moved).

One review for `isit train` (:func:`review_labels`) and `isit check DATA --model
MODEL.onnx` (:func:`review_folder`): every photo is scored by an exact head that never
saw it nor its copies (cross-validation's out-of-fold probabilities when the run has
them, else grouped folds of the exact head), and confident learning lists the photos
whose folder is unlikely (:func:`training.evaluation.label_review.likely_mistakes`),
joined by the nearest photos' folders and a refit without the first round's suspects
(:func:`training.evaluation.label_review.combined_mistakes`).
The folds' regularisation follows the head's own rule: the C given (the trained head's),
else chosen by inner cross-validation.
"""

from __future__ import annotations

import os

import numpy as np

from isit.bundle import load_bundle
from training.data.doctor import DatasetReport
from training.evaluation.label_review import LabelIssue, combined_mistakes, with_nearest_photos
from training.model.folds import out_of_fold
from training.model.head import choose_c, fit_linear
from training.pipeline.crossvalidate import CrossValidated
from training.pipeline.featurize import Features, compute_features, resolve_backbone
from training.pipeline.fit import FittedHead
from training.pipeline.load import TrainingData, training_data_from
from training.settings import FOLDS, SEED, TrainConfig


def out_of_fold_probabilities(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_classes: int, c: float | None = None
) -> np.ndarray | None:
    """Every photo's probabilities from the exact head of the grouped fold that held it
    out, at regularisation ``c`` (None: chosen by inner CV over all these photos, as the
    head chooses its own); None when there are no folds (a class under 2 photos)."""
    if c is None:
        c, _ = choose_c(x, y, groups)

    def fit_and_score(fit_idx: np.ndarray, held_idx: np.ndarray) -> np.ndarray:
        return fit_linear(x[fit_idx], y[fit_idx], n_classes, c).predict_proba(x[held_idx])

    return out_of_fold(fit_and_score, y, groups, folds=FOLDS, seed=SEED)


def refit_out_of_fold(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    c: float,
    keep: np.ndarray,
) -> np.ndarray | None:
    """Every photo's probabilities from the exact head of the grouped fold that held it
    out, fitted only on the ``keep`` photos of the other folds (the label review's
    second round: heads that never learnt from the suspects)."""
    keep = np.asarray(keep, bool)

    def fit_and_score(fit_idx: np.ndarray, held_idx: np.ndarray) -> np.ndarray:
        fit_idx = fit_idx[keep[fit_idx]]
        if len(np.unique(y[fit_idx])) < n_classes:  # a class lost: no fair refit
            return np.full((len(held_idx), n_classes), np.nan)
        return fit_linear(x[fit_idx], y[fit_idx], n_classes, c).predict_proba(x[held_idx])

    p = out_of_fold(fit_and_score, y, groups, folds=FOLDS, seed=SEED)
    return None if p is None or np.isnan(p).any() else p


def review(
    data: TrainingData,
    features: Features,
    probabilities: np.ndarray | None = None,
    c: float | None = None,
) -> list[LabelIssue]:
    """Likely label mistakes among every photo of ``data``: from ``probabilities`` (out
    of fold, one row per photo) when given, else :func:`out_of_fold_probabilities` at
    ``c``; with the nearest photos' folders and a refit without the first round's
    suspects (:func:`combined_mistakes`)."""
    samples = data.every_photo
    x, y = features.all_x(), features.all_y()
    groups = data.groups(samples)
    if c is None:  # one choice for the folds and the refit
        c, _ = choose_c(x, y, groups)
    if probabilities is None:
        probabilities = out_of_fold_probabilities(x, y, groups, len(data.labels), c)
    if probabilities is None:
        return []
    n_classes, chosen = len(data.labels), c

    def refit(keep: np.ndarray) -> np.ndarray | None:
        return refit_out_of_fold(x, y, groups, n_classes, chosen, keep)

    names, sources = [s.relative for s in samples], [s.path for s in samples]
    issues = combined_mistakes(
        np.asarray(probabilities), x, y, groups, data.labels, names, sources, refit
    )
    return with_nearest_photos(issues, x, y, groups, list(data.labels), names, sources)


def review_labels(
    data: TrainingData, features: Features, head: FittedHead, cv: CrossValidated | None
) -> list[LabelIssue]:
    """`isit train`'s review: the cross-validation's out-of-fold probabilities when there
    is one, else grouped folds at the final head's C (chosen by inner CV for a Keras
    head, which has none)."""
    probabilities = None if cv is None else cv.raw_probabilities
    return review(data, features, probabilities, head.chosen_c)


def review_folder(
    report: DatasetReport, model_path: str | os.PathLike[str], *, progress: bool | None = None
) -> list[LabelIssue]:
    """`isit check --model`'s review of the usable photos of a checked folder, on the
    model's backbone's (cached) features; C chosen by inner CV."""
    report.raise_if_fatal()
    data = training_data_from(report)
    backbone = resolve_backbone(load_bundle(model_path).metadata.backbone.name, lambda _: None)
    config = TrainConfig(backbone=backbone.name, probes=False)
    return review(data, compute_features(data, backbone, config, progress))
