"""The report's regularisation plot draws what chose C and marks the C the model uses."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluation.report.plots import RegularisationCurve
from training.model import head as H


def separable(seed: int = 0, n: int = 60, d: int = 3):
    """Two classes far apart: every C of the grid makes no mistake, so the error rate is
    flat and only the tie-break (log loss) decides."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    x = rng.normal(0, 1, (n, d))
    x[:, 0] += np.where(y == 1, 12.0, -12.0)
    return x, y, None


def hard(seed: int = 0, n_groups: int = 90, d: int = 120):
    """Three overlapping classes, mostly noise features, near-copies grouped."""
    rng = np.random.default_rng(seed)
    y_group = np.arange(n_groups) % 3
    means = np.zeros((3, d))
    means[:, :8] = rng.normal(0, 0.7, (3, 8))
    base = means[y_group] + rng.normal(0, 1.0, (n_groups, d))
    x = np.concatenate([base, base + rng.normal(0, 0.05, base.shape)])
    return x, np.concatenate([y_group, y_group]), np.concatenate([np.arange(n_groups)] * 2)


@pytest.mark.parametrize("data", [separable, hard], ids=["separable", "hard"])
def test_the_plotted_choice_is_the_models_c(data):
    x, y, groups = data()
    n_classes = int(y.max()) + 1
    result = H.HeadTrainer(x.shape[1], n_classes, H.HeadConfig()).fit(x, y, groups=groups)
    curve = RegularisationCurve.of(result.history)
    assert curve is not None and curve.quantity.startswith("error rate")
    assert curve.c == tuple(sorted(H.C_GRID)) and len(curve.scores) == len(curve.c)
    assert curve.chosen_c == result.chosen_c
    # The exported head is the solution at that C.
    solution = H.fit_linear(x, y, n_classes, curve.chosen_c)
    assert np.abs(H.predict_proba(result.model, x) - solution.predict_proba(x)).max() < 1e-4
    # It has the fewest errors of the grid (the curve is what chose it).
    chosen_score = curve.scores[curve.c.index(curve.chosen_c)]
    assert chosen_score <= min(curve.scores) + 1e-9


def test_a_flat_error_curve_is_not_marked_at_its_first_point():
    """The old plot marked argmin of the curve (the strongest penalty on a flat curve)."""
    x, y, _ = separable()
    result = H.HeadTrainer(x.shape[1], 2, H.HeadConfig()).fit(x, y)
    curve = RegularisationCurve.of(result.history)
    assert curve is not None and max(curve.scores) == 0.0
    assert curve.chosen_c == result.chosen_c > curve.c[int(np.argmin(curve.scores))]


def test_a_keras_history_has_no_regularisation_curve():
    assert RegularisationCurve.of({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}) is None
