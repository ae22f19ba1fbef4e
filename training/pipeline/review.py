"""Review: photos that are probably in the wrong folder (never moved).

One review for `isit train` (:func:`review_labels`) and `isit check DATA --model
MODEL.onnx` (:func:`review_folder`): every photo is scored by an exact head that never
saw it nor its copies (cross-validation's out-of-fold probabilities when the run has
them, else grouped folds of the exact head), and confident learning lists the photos
whose folder is unlikely (:func:`training.evaluation.label_review.likely_mistakes`).
The folds' regularisation follows the head's own rule: the C given (the trained head's),
else chosen by inner cross-validation.
"""

from __future__ import annotations

import os

import numpy as np

from isit.bundle import load_bundle
from training.data.doctor import DatasetReport
from training.evaluation.label_review import LabelIssue, likely_mistakes
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


def review(
    data: TrainingData,
    features: Features,
    probabilities: np.ndarray | None = None,
    c: float | None = None,
) -> list[LabelIssue]:
    """Likely label mistakes among every photo of ``data``: from ``probabilities`` (out
    of fold, one row per photo) when given, else :func:`out_of_fold_probabilities` at
    ``c``."""
    samples = data.every_photo
    y = features.all_y()
    if probabilities is None:
        probabilities = out_of_fold_probabilities(
            features.all_x(), y, data.groups(samples), len(data.labels), c
        )
    if probabilities is None:
        return []
    return likely_mistakes(
        np.asarray(probabilities),
        y,
        data.labels,
        [s.relative for s in samples],
        [s.path for s in samples],
    )


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
