"""Held-out metrics: accuracy with its n, per-class precision/recall/F1, confusion, ECE.

Every proportion also carries its n and 95% Wilson interval (``*_interval``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.evaluation.metrics import BestGuess, ClassScores
from training.evaluation.proportions import proportion


def reliability_bins(
    probabilities: np.ndarray, y_true: np.ndarray, bins: int = 10
) -> list[tuple[float, float, float]]:
    """``(share of photos, mean confidence, share right)`` of each non-empty equal-width
    confidence bin; bin i holds confidences in (i/bins, (i+1)/bins], 0 in the first."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    return [
        (float(m.mean()), float(confidence[m].mean()), float(correct[m].mean()))
        for m in (index == b for b in range(bins))
        if m.any()
    ]


def expected_calibration_error(
    probabilities: np.ndarray, y_true: np.ndarray, bins: int = 10
) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by bin size."""
    if len(y_true) == 0:
        return 0.0
    return float(
        sum(
            share * abs(conf - right)
            for share, conf, right in reliability_bins(probabilities, y_true, bins)
        )
    )


def best_guess(y_true: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]) -> BestGuess:
    """The ``best_guess`` block of metrics.json: accuracy, per class, confusion, ECE."""
    # Imported here: scikit-learn (with scipy and pandas) is slow to import, and `isit
    # train` imports it while the backbone's workers run (training.pipeline).
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = tuple(labels)
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = probabilities.argmax(axis=1) if len(y_true) else np.zeros(0, np.int64)
    idx = list(range(len(labels)))
    _, _, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    matrix = (
        confusion_matrix(y_true, y_pred, labels=idx)
        if len(y_true)
        else np.zeros((len(labels), len(labels)), dtype=np.int64)
    )
    true_positives, predicted = np.diag(matrix), matrix.sum(axis=0)
    return BestGuess(
        labels=labels,
        accuracy=proportion(int((y_pred == y_true).sum()), len(y_true)),
        per_class={
            label: ClassScores(
                n=int(support[i]),
                precision=proportion(true_positives[i], predicted[i]),
                recall=proportion(true_positives[i], support[i]),
                f1=float(f1[i]),
            )
            for i, label in enumerate(labels)
        },
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
        ece=expected_calibration_error(probabilities, y_true),
    )
