"""Stage 6, review: photos that are probably in the wrong folder (never moved)."""

from __future__ import annotations

import numpy as np

from training.evaluation.label_review import LabelIssue, likely_mistakes, quick_out_of_fold
from training.pipeline.crossvalidate import CrossValidated
from training.pipeline.featurize import Features
from training.pipeline.fit import FittedHead
from training.pipeline.load import TrainingData

DEFAULT_C = 1.0  # for a Keras head, which has no chosen regularisation


def review_labels(
    data: TrainingData, features: Features, head: FittedHead, cv: CrossValidated | None
) -> list[LabelIssue]:
    """From out-of-fold probabilities of every photo: the cross-validation's when there
    is one, else quick folds of the exact head at the final head's regularisation."""
    samples = data.every_photo
    y = features.all_y()
    if cv is not None:
        probabilities = cv.raw_probabilities
    else:
        c = head.chosen_c or DEFAULT_C
        groups = data.groups(samples)
        probabilities = quick_out_of_fold(features.all_x(), y, groups, len(data.labels), c)
    return likely_mistakes(
        np.asarray(probabilities),
        y,
        data.labels,
        [s.relative for s in samples],
        [s.path for s in samples],
    )
