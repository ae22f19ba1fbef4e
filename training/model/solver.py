"""The exact head's solver: L2-penalised softmax regression along a path of C values.

It is scikit-learn's ``LogisticRegression(solver="lbfgs", warm_start=True)`` called at its
core, on the row space of the training photos when they are fewer than the features:
- the same objective (scikit-learn's pointwise losses: binomial for two classes, else
  multinomial; penalty ``1 / (C * sum(w))``), the same L-BFGS-B options and warm starts,
  so the same iterates and solutions (``tests/model/test_head.py`` compares them);
- without the estimator's input checks and label encoding, nor ``LinearModelLoss``'s
  array-API dispatch on every gradient: on these small problems each cost more than the
  arithmetic, and cross-validation runs thousands of gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training.workers import single_threaded

Path = list[tuple[np.ndarray, np.ndarray]]  # (coef [K, D], intercept [K]) per C


@dataclass(frozen=True)
class RowSpace:
    """Orthonormal coordinates of the span of the training rows ``xs``, kept implicit:
    ``basis = U^T xs / sqrt(L)`` from the Gram matrix ``xs xs^T = U L U^T`` is never
    formed (it costs as much as the Gram matrix); rows and weights are mapped through
    ``xs`` instead."""

    xs: np.ndarray  # [N, D] the training rows
    vectors: np.ndarray  # [N, rank] U
    root: np.ndarray  # [rank] sqrt(L)

    def coordinates(self, rows: np.ndarray) -> np.ndarray:
        """``rows @ basis.T``: other rows (held-out photos) in the fit's coordinates."""
        return (rows @ self.xs.T) @ self.vectors / self.root

    def to_features(self, coef: np.ndarray) -> np.ndarray:
        """``coef @ basis``: weights on the coordinates as weights on the features."""
        return ((coef / self.root) @ self.vectors.T) @ self.xs


def row_space(xs: np.ndarray) -> tuple[np.ndarray, RowSpace | None]:
    """``(z, space)`` with ``xs = z @ basis`` (:class:`RowSpace`), when there are fewer
    photos than features (else ``(xs, None)``).

    Why: an L2-penalised linear model's optimal weights lie in the span of the training
    rows (the gradient of the loss is ``xs.T @ residual``, that of the penalty ``w/C``),
    so fitting on ``z = U sqrt(L)`` (N x rank) and mapping back is the same solution,
    found several times faster.
    """
    n, d = xs.shape
    if n >= d:
        return xs, None
    eigenvalues, vectors = np.linalg.eigh(xs @ xs.T)
    keep = eigenvalues > eigenvalues.max() * 1e-10
    root = np.sqrt(eigenvalues[keep])
    return vectors[:, keep] * root, RowSpace(xs, vectors[:, keep], root)


def fit_path(
    xs: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    grid: tuple[float, ...],
    max_iter: int,
    tol: float,
) -> tuple[Path, RowSpace | None]:
    """(coef, intercept) for each C of ``grid`` (ascending), each warm-started from the
    previous one (later, weaker-penalty fits start close to their optimum); the coef on
    the coordinates of the returned row space (None: on the features)."""
    with single_threaded():
        z, space = row_space(xs)
        return lbfgs_path(np.ascontiguousarray(z), y, w, grid, max_iter, tol), space


class _Objective:
    """``LinearModelLoss(base_loss, fit_intercept=True).loss_gradient``, the same
    arithmetic in the same order (so the same floats), on plain NumPy arrays."""

    def __init__(self, base_loss: Any, n_classes: int, n_features: int):
        self.base_loss = base_loss
        self.n_classes = n_classes
        self.n_features = n_features

    def __call__(
        self, coef: np.ndarray, x: np.ndarray, y: np.ndarray, sw: np.ndarray, l2: float
    ) -> tuple[float, np.ndarray]:
        d, k = self.n_features, self.n_classes
        if k == 2:  # one row: class 1 against class 0
            weights, intercept = coef[:-1], coef[-1]
            raw = x @ weights.astype(x.dtype) + np.asarray(intercept, x.dtype)
        else:  # the classes of one feature are contiguous (Fortran order)
            full = coef.reshape((k, -1), order="F")
            weights, intercept = full[:, :-1], full[:, -1]
            raw = x @ weights.astype(x.dtype).T + intercept.astype(x.dtype)
        pointwise, gradient = self.base_loss.loss_gradient(
            y_true=y, raw_prediction=raw, sample_weight=sw, n_threads=1
        )
        sw_sum = np.sum(sw)
        flat = np.ravel(weights, order="K")
        loss = float(np.sum(pointwise) / sw_sum) + float(0.5 * l2 * np.dot(flat, flat))
        gradient /= sw_sum
        if k == 2:
            grad = np.empty_like(coef, dtype=weights.dtype)
            grad[:d] = x.T @ gradient + l2 * weights
            grad[-1] = np.sum(gradient)
            return loss, grad
        grad = np.empty((k, d + 1), dtype=weights.dtype, order="F")
        grad[:, :d] = gradient.T @ x + l2 * weights
        grad[:, -1] = np.sum(gradient, axis=0)
        return loss, grad.ravel(order="F")


def lbfgs_path(
    z: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    grid: tuple[float, ...],
    max_iter: int,
    tol: float,
) -> Path:
    """``LogisticRegression(C, tol, max_iter, warm_start=True).fit`` along ``grid``."""
    from scipy import optimize
    from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss

    classes = np.unique(y)
    k, d = len(classes), z.shape[1]
    if k < 2:
        raise ValueError("the solver needs photos of at least 2 classes")
    # In the features' precision, as scikit-learn fits float32 or float64 features.
    dtype = z.dtype if z.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    sw = np.array(w, dtype=dtype)
    if k == 2:
        objective = _Objective(HalfBinomialLoss(), 2, d)
        target, w0 = (y == classes[1]).astype(dtype), np.zeros(d + 1, dtype)
    else:
        objective = _Objective(HalfMultinomialLoss(n_classes=k), k, d)
        target, w0 = np.searchsorted(classes, y).astype(dtype), np.zeros(k * (d + 1), dtype)
    options = {"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps}
    path = []
    for c in grid:
        w0 = optimize.minimize(
            objective, w0, method="L-BFGS-B", jac=True, options=options,
            args=(z, target, sw, 1.0 / (c * float(sw.sum()))),
        ).x.astype(dtype)  # fmt: skip
        full = w0[None, :] if k == 2 else w0.reshape((k, -1), order="F")
        path.append((full[:, :-1].copy(), full[:, -1].copy()))
    return path
