"""The head: the exact solver against tuned logistic regression, and its Keras form."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from training.model import head as H
from training.model.folds import grouped_folds
from training.model.solver import lbfgs_path


def grouped_features(seed: int, n_groups: int = 120, d: int = 150, classes: int = 3):
    """Few photos, many features, most of them noise, each photo with a near-copy in
    its group (as a duplicate group from the dataset check): a linear model wins only
    with the right, strong regularisation, and only grouped CV measures it honestly."""
    rng = np.random.default_rng(seed)
    y_group = np.arange(n_groups) % classes
    means = np.zeros((classes, d))
    means[:, :12] = rng.normal(0, 0.9, (classes, 12))  # 12 informative features
    base = means[y_group] + rng.normal(0, 1.0, (n_groups, d))
    copies = base + rng.normal(0, 0.05, base.shape)
    scale = rng.uniform(0.1, 30, d)  # unequal scales: standardising matters
    x = np.concatenate([base, copies]) * scale
    return x, np.concatenate([y_group, y_group]), np.concatenate([np.arange(n_groups)] * 2)


def logistic_regression_cv(x, y, groups, x_test):
    """The tuned linear baseline: standardised LogisticRegressionCV, the same C grid,
    its folds grouped like ours (the strongest fair version of it)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    splits = grouped_folds(y, groups, 5, 0)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        model = LogisticRegressionCV(
            Cs=list(H.C_GRID), cv=splits, class_weight="balanced", max_iter=1000
        )
        model.fit(scaler.transform(x), y)
    return model.predict_proba(scaler.transform(x_test))


def grouped_cv_accuracy(fit_predict, x, y, groups) -> float:
    from sklearn.model_selection import StratifiedGroupKFold

    correct = 0
    for tr, te in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(x, y, groups):
        correct += int((fit_predict(x[tr], y[tr], groups[tr], x[te]).argmax(1) == y[te]).sum())
    return correct / len(y)


@pytest.mark.slow
def test_exact_head_at_least_as_good_as_logistic_regression_cv():
    """Grouped 5-fold CV accuracy, averaged over three generated datasets (one dataset
    alone is a coin toss of a photo or two either way)."""

    def ours(xt, yt, gt, xe):
        return H.fit_fold_calibrated(xt, yt, n_classes=3, groups=gt)[0].predict_proba(xe)

    new, baseline = [], []
    for seed in range(3):
        x, y, groups = grouped_features(seed)
        new.append(grouped_cv_accuracy(ours, x, y, groups))
        baseline.append(grouped_cv_accuracy(logistic_regression_cv, x, y, groups))
    print(f"new head {new}, LogisticRegressionCV {baseline}")
    assert np.mean(new) >= np.mean(baseline)
    assert min(new) > 1 / 3 + 0.25  # and it learnt something real


def test_chosen_c_is_strong_regularisation_on_noisy_features():
    x, y, groups = grouped_features(0)
    c, scores = H.choose_c(x, y, groups)
    assert len(scores) == len(H.C_GRID)
    assert c <= 0.1, c  # weak penalties overfit the noise features
    # Without the groups, each photo's near-copy leaks into the inner folds: the inner
    # scores look better than they are.
    _, leaky = H.choose_c(x, y, None)
    assert min(leaky) < min(scores)


def test_without_inner_folds_c_is_the_middle_of_the_grid():
    x, y, _ = grouped_features(5)
    y = y.copy()
    y[0] = 3  # a class of one photo: no stratified inner folds
    c, scores, oof = H.choose_c_out_of_fold(x, y)
    assert c == sorted(H.C_GRID)[len(H.C_GRID) // 2] and scores == [] and oof is None


def test_keras_head_computes_the_exact_solution_with_standardisation_folded_in():
    x, y, groups = grouped_features(2)
    x = x.astype(np.float32)
    result = H.HeadTrainer(x.shape[1], 3).fit(x, y, groups=groups)
    solution = H.fit_linear(x, y, 3, result.chosen_c)
    keras_p = H.predict_proba(result.model, x)
    assert np.abs(keras_p - solution.predict_proba(x)).max() < 1e-4
    assert np.allclose(keras_p.sum(axis=1), 1.0, atol=1e-5)
    assert result.history["C"] == sorted(H.C_GRID) and result.chosen_c in H.C_GRID
    # The solution's probabilities are the softmax of its logits.
    z = solution.decision_function(x)
    assert np.allclose(solution.predict_proba(x), softmax(z), atol=1e-6)


def test_two_classes_and_a_class_missing_from_a_fold():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 20)
    x = rng.normal(0, 1, (40, 30)) + y[:, None] * 1.5
    solution, _ = H.fit_fold_calibrated(x, y)
    assert (solution.predict_proba(x).argmax(1) == y).mean() > 0.9
    # A fold where class 2 of 3 is absent: it gets (near) zero probability, no crash.
    three = H.fit_linear(x, y, 3, 0.1)
    p = three.predict_proba(x)
    assert p.shape == (40, 3) and p[:, 2].max() < 1e-6


def test_head_trainer_keeps_the_cross_validation_interface():
    """Cross-validation re-fits one HeadTrainer per fold with a stopping slice."""
    x, y, _ = grouped_features(4)
    trainer = H.HeadTrainer(x.shape[1], 3, H.HeadConfig())
    first = trainer.fit(x[:80], y[:80], x[80:100], y[80:100])
    assert H.predict_proba(first.model, x[100:]).shape == (len(x) - 100, 3)
    assert first.seconds > 0 and first.chosen_c in H.C_GRID


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("classes, dtype", [(2, np.float64), (3, np.float64), (3, np.float32)])
def test_path_solver_is_logistic_regression_with_warm_starts(classes, dtype):
    """The C path is scikit-learn's LogisticRegression fitted along the grid with warm
    starts (the same objective, options and iterates), without its per-fit overhead."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(classes)
    z, y = rng.normal(size=(90, 40)).astype(dtype), rng.integers(0, classes, 90)
    w = rng.uniform(0.5, 2.0, 90)
    path = lbfgs_path(z, y, w, H.C_GRID, 300, H.SELECT_TOL)
    model = LogisticRegression(C=H.C_GRID[0], max_iter=300, tol=H.SELECT_TOL, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c, (coef, intercept) in zip(H.C_GRID, path, strict=True):
            model.set_params(C=c).fit(z, y, sample_weight=w)
            np.testing.assert_array_equal(coef, model.coef_)
            np.testing.assert_array_equal(intercept, model.intercept_)
