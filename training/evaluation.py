"""Held-out metrics: accuracy with its n, per-class precision/recall/F1, confusion, ECE.

Every proportion also carries its n and 95% Wilson interval (``*_interval``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from training.stats import proportion


def expected_calibration_error(
    probabilities: np.ndarray, y_true: np.ndarray, bins: int = 10
) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by bin size."""
    if len(y_true) == 0:
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds confidences in (edges[i], edges[i+1]]; 0 goes into the first bin.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            ece += mask.mean() * abs(float(confidence[mask].mean()) - float(correct[mask].mean()))
    return float(ece)


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, labels: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    """The ``test`` block of metrics.json."""
    labels = list(labels)
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = probabilities.argmax(axis=1) if len(y_true) else np.zeros(0, np.int64)
    idx = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=idx, zero_division=0
    )
    matrix = (
        confusion_matrix(y_true, y_pred, labels=idx)
        if len(y_true)
        else np.zeros((len(labels), len(labels)), dtype=np.int64)
    )
    true_positives = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    correct = int((y_pred == y_true).sum())
    return {
        "n": len(y_true),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "accuracy_interval": proportion(correct, len(y_true)).to_dict(),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "precision_interval": proportion(true_positives[i], predicted[i]).to_dict(),
                "recall": float(recall[i]),
                "recall_interval": proportion(true_positives[i], support[i]).to_dict(),
                "f1": float(f1[i]),
                "n": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": {"labels": labels, "matrix": matrix.astype(int).tolist()},
        "ece": expected_calibration_error(probabilities, y_true),
    }
