"""Temperature scaling: one number that makes the head's probabilities mean what they say.

``p_T = softmax(log p / T)``, which equals ``softmax(logits / T)`` for a softmax head, so it
works on the head's probabilities whatever the head is. ``T`` is fitted by minimising the
negative log-likelihood on predictions of photos the head was not fitted on (validation
photos, or out-of-fold predictions); ``T > 1`` softens an over-confident head. The
exported graph applies the same formula (:mod:`training.model.graph`), so the Function,
the CLI and the page show calibrated probabilities.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-12  # log(0) guard; also in the exported graph
BOUNDS = (0.05, 20.0)  # temperatures searched (log-uniformly)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Rows of ``logits`` ``[N, C]`` to probabilities, float32 (computed in the input's
    precision; the row maximum is subtracted first so ``exp`` cannot overflow). The one
    softmax of training: the exact head's, the inner folds' and the temperature's."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated probabilities, float32, rows summing to 1."""
    p = np.asarray(probabilities, dtype=np.float32)
    if temperature == 1.0 or not len(p):
        return p
    return softmax(np.log(np.maximum(p, np.float32(EPSILON))) / np.float32(temperature))


def negative_log_likelihood(probabilities: np.ndarray, y: np.ndarray) -> float:
    picked = probabilities[np.arange(len(y)), y]
    return float(-np.log(np.maximum(picked, EPSILON)).mean())


def fit_temperature(probabilities: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the NLL of ``y``; 1.0 with fewer than 2 predictions.

    The one temperature fitter: every head (exact or Keras, final or a cross-validation
    fold's) is calibrated by it, on held-out probabilities."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(y, dtype=np.int64)
    if len(y) < 2:
        return 1.0
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(apply_temperature(probabilities, np.exp(log_t)), y),
        bounds=tuple(np.log(BOUNDS)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))
