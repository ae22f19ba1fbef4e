"""The trainable part: a small head on cached backbone features.

Default (``hidden=0``): standardised multinomial logistic regression, solved exactly.
- Features are standardised (mean 0, variance 1 per feature, from the training photos):
  the L2 penalty then weighs every feature alike, which is what makes one regularisation
  strength fit all backbones.
- The regularisation strength C is chosen by inner stratified group 5-fold on the
  training photos only (duplicates grouped when ``groups`` is given), by out-of-fold
  accuracy (ties: the lower log loss), over :data:`C_GRID` with warm starts
  (scikit-learn's lbfgs objective, called directly: :mod:`training.model.solver`). Why
  accuracy over 5 folds: on the hard
  folders of ``bench/bench_heads.py`` it kept level with a tuned LogisticRegressionCV
  where 3 folds and a (temperature-calibrated) log loss fell behind.
- The solution stays a NumPy :class:`LinearSolution` with the standardisation folded
  into its weights (``W / s``, ``b - (m / s) W``): the exported graph is one matrix
  product, written as ONNX nodes (:mod:`training.model.graph`), with no TensorFlow.

Why: on hard folders a head trained with Adam, a fixed L2 of 1e-4, dropout and early
stopping on a small validation slice lost to a plain tuned logistic regression on the
same features (issue 13; ``bench/bench_heads.py`` measures it). Solving the convex
problem exactly is also faster, and cheap enough to run in every cross-validation fold.

``hidden > 0``: one hidden ReLU layer, trained with Keras (Adam, dropout, L2, early
stopping), on standardised inputs (a ``Normalization`` layer inside the model).

Calibration: a temperature is fitted on the head's held-out probabilities
(:mod:`training.model.temperature`) and applied after it, inside model.onnx too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training import settings
from training.model.folds import grouped_folds
from training.model.solver import fit_path
from training.model.temperature import softmax

# Inverse regularisation strengths tried (scikit-learn's C, on standardised features):
# half-decade steps from very strong to weak. Small C = strong L2.
C_GRID = tuple(float(c) for c in np.logspace(-4, 1, 11))
INNER_FOLDS = 5
# lbfgs gradient tolerances: the final fit is solved tightly (probabilities within ~1e-5
# of the optimum); choosing C only needs the ranking of the grid's scores, 4x cheaper.
FINAL_TOL = 1e-6
SELECT_TOL = 1e-4
LOGITS = "logits"
PROBABILITIES = "probabilities"


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = settings.HIDDEN  # 0 = softmax regression on the features (exact solver)
    epochs: int = settings.EPOCHS  # Keras path only (hidden > 0)
    seed: int = settings.SEED
    c_grid: tuple[float, ...] = C_GRID  # exact path: candidate C values
    inner_folds: int = INNER_FOLDS  # exact path: inner CV folds choosing C
    max_iter: int = 300  # lbfgs iterations per C
    # Keras path (hidden > 0):
    dropout: float = 0.2
    l2: float = 1e-4
    learning_rate: float = 1e-3
    batch_size: int = 32
    patience: int = 6  # early stopping on validation loss...
    min_delta: float = 1e-3  # ...once it improves by less than this (it creeps down forever)
    standardise: bool = True  # Keras path: a Normalization layer first

    def __post_init__(self) -> None:
        problems = []
        if not self.c_grid or min(self.c_grid) <= 0:
            problems.append("c_grid needs positive regularisation strengths")
        if self.inner_folds < 2 or self.max_iter < 1 or self.epochs < 1 or self.batch_size < 1:
            problems.append("inner_folds >= 2, max_iter, epochs and batch_size >= 1")
        if not 0 <= self.dropout < 1 or self.l2 < 0 or self.learning_rate <= 0:
            problems.append("dropout in [0, 1), l2 >= 0 and learning_rate > 0")
        if self.hidden < 0:
            problems.append("hidden >= 0")
        if problems:
            from training.settings import ConfigError

            raise ConfigError("Invalid head settings: " + "; ".join(problems) + ".")


@dataclass
class HeadResult:
    # features [N, D] -> probabilities [N, C]: the exact path's LinearSolution (NumPy),
    # the Keras path's keras.Model.
    model: Any
    # Exact path: "C" (the grid), "cv_error_rate" (the inner-CV error rate of each C: what
    # chose it) and "chosen_C" ([the C the model uses]: ties are broken by log loss).
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    best_epoch: int = 0
    chosen_c: float | None = None  # exact path: the C chosen by inner CV
    seconds: float = 0.0
    # Held-out predictions of photos the head did not learn from, and their classes, for
    # fitting a temperature: inner out-of-fold ones (exact path), the validation
    # photos' (Keras path); None when there were none.
    calibration: tuple[np.ndarray, np.ndarray] | None = None


def class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    """Balanced weights: n / (C * count), so a small class counts as much as a big one."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weights = len(y) / (n_classes * np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


def _sample_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    weights = class_weights(y, n_classes)
    return np.array([weights[int(c)] for c in y], dtype=np.float64)


# ------------------------------------------------------------------ the exact solver


@dataclass
class LinearSolution:
    """Softmax regression on raw features: ``logits = x @ kernel + bias`` (model-like)."""

    kernel: np.ndarray  # [D, C] float64, standardisation folded in
    bias: np.ndarray  # [C]
    c: float

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64) @ self.kernel + self.bias

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.decision_function(x))


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale per feature; constant features get scale 1 (they carry nothing)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 1e-6, scale, 1.0)


def _full_coef(coef: np.ndarray, intercept: np.ndarray, n_classes: int, present: np.ndarray):
    """scikit-learn's coefficients as ``[D, C]``, ``[C]`` over all ``n_classes``: binary
    problems give one row (class 1 vs 0); a class absent from the data gets -inf bias."""
    if coef.shape[0] == 1 and len(present) == 2:
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    kernel = np.zeros((coef.shape[1], n_classes))
    bias = np.full(n_classes, -1e4)
    kernel[:, present] = coef.T
    bias[present] = intercept
    return kernel, bias


def _weighted_nll(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    z = z - z.max(axis=1, keepdims=True)
    log_p = z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))
    return float(-(w * log_p).sum() / w.sum())


def choose_c(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None = None,
    config: HeadConfig = HeadConfig(),
) -> tuple[float, list[float]]:
    """The C of ``config.c_grid`` with the fewest class-balanced inner-CV out-of-fold
    errors (ties: the lowest class-balanced log loss; why not the log loss alone: it
    also rewards confidence, so it picked too weak a penalty). Each inner fold is
    standardised on its own training part. Returns (C, error rate per C); the middle
    of the grid and no scores when there are no inner folds (a class under 2 photos).
    """
    c, scores, _ = choose_c_out_of_fold(x, y, groups, config)
    return c, scores


def choose_c_out_of_fold(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None = None,
    config: HeadConfig = HeadConfig(),
) -> tuple[float, list[float], np.ndarray | None]:
    """:func:`choose_c`, plus each row's inner out-of-fold probabilities at the chosen
    C (``[N, classes]``, None without inner folds): held-out predictions of these very
    photos, which the temperature is fitted on."""
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    grid = tuple(sorted(config.c_grid))
    splits = grouped_folds(y, groups, config.inner_folds, config.seed)
    if len(grid) == 1 or not splits:
        return grid[len(grid) // 2], [], None
    n_classes = int(y.max()) + 1
    oof = np.zeros((len(grid), len(y), n_classes))  # out-of-fold logits, per C
    for fit_idx, held_idx in splits:
        mean, scale = _standardiser(x[fit_idx])
        xs_fit, xs_held = (x[fit_idx] - mean) / scale, (x[held_idx] - mean) / scale
        w_fit = _sample_weights(y[fit_idx], n_classes)
        path, space = fit_path(xs_fit, y[fit_idx], w_fit, grid, config.max_iter, SELECT_TOL)
        if space is not None:  # score the held-out rows in the fit's own coordinates
            xs_held = space.coordinates(xs_held)
        for k, (coef, intercept) in enumerate(path):
            kernel, bias = _full_coef(coef, intercept, n_classes, np.unique(y[fit_idx]))
            oof[k, held_idx] = LinearSolution(kernel, bias, grid[k]).decision_function(xs_held)
    held = np.concatenate([h for _, h in splits])
    y_held, w = y[held], _sample_weights(y[held], n_classes)
    losses = np.array([_weighted_nll(z[held], y_held, w) for z in oof])
    errors = np.array([float((w * (z[held].argmax(1) != y_held)).sum()) for z in oof])
    candidates = np.flatnonzero(errors <= errors.min() + 1e-9)
    best = int(candidates[np.argmin(losses[candidates])])
    return grid[best], [float(v) for v in errors / w.sum()], softmax(oof[best])


def fit_linear(
    x: np.ndarray, y: np.ndarray, n_classes: int, c: float, max_iter: int = 300
) -> LinearSolution:
    """Standardise, fit softmax regression at ``C=c`` (balanced class weights), fold the
    standardisation into the weights."""
    x = np.asarray(x, np.float64)
    mean, scale = _standardiser(x)
    xs = (x - mean) / scale
    ((coef, intercept),), space = fit_path(
        xs, y, _sample_weights(y, n_classes), (c,), max_iter, FINAL_TOL
    )
    if space is not None:
        coef = space.to_features(coef)
    kernel, bias = _full_coef(coef, intercept, n_classes, np.unique(y))
    kernel = kernel / scale[:, None]
    return LinearSolution(kernel, bias - mean @ kernel, c)


def fit_fold_calibrated(
    x: np.ndarray,
    y: np.ndarray,
    config: HeadConfig = HeadConfig(),
    *,
    n_classes: int | None = None,
    groups: np.ndarray | None = None,
) -> tuple[LinearSolution, np.ndarray | None]:
    """The exact head for one cross-validation fold, without Keras: C chosen by inner CV
    on these photos only, then refit on all of them (``.predict_proba(x)``,
    ``.decision_function(x)``: logits, like a scikit-learn classifier); and the inner
    out-of-fold probabilities of these photos at the chosen C (``[N, n_classes]``;
    None without inner folds), to fit a temperature on."""
    y = np.asarray(y, np.int64)
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    c, _, oof = choose_c_out_of_fold(np.asarray(x, np.float64), y, groups, config)
    if oof is not None and oof.shape[1] < n_classes:
        oof = np.pad(oof, ((0, 0), (0, n_classes - oof.shape[1])))
    return fit_linear(x, y, n_classes, c, config.max_iter), oof


# ------------------------------------------------------------------ Keras models


def build_head(
    feature_dim: int,
    n_classes: int,
    config: HeadConfig = HeadConfig(),
    *,
    mean: np.ndarray | None = None,
    variance: np.ndarray | None = None,
) -> Any:
    """features -> ``logits`` (Dense) -> ``probabilities`` (softmax) as a Keras model.

    ``hidden > 0`` adds [Normalization(mean, variance)] -> dropout -> Dense ReLU ->
    dropout before the logits; the linear head has no dropout (its weights come from
    the exact solver, standardisation folded in).
    """
    import keras

    layers: list[Any] = [keras.Input(shape=(feature_dim,), name="features")]
    if config.hidden:
        regularizer = keras.regularizers.L2(config.l2) if config.l2 else None
        if mean is not None and variance is not None:
            layers.append(keras.layers.Normalization(mean=mean, variance=variance))
        if config.dropout:
            layers.append(keras.layers.Dropout(config.dropout, seed=config.seed))
        layers.append(
            keras.layers.Dense(config.hidden, activation="relu", kernel_regularizer=regularizer)
        )
        if config.dropout:
            layers.append(keras.layers.Dropout(config.dropout, seed=config.seed + 1))
        layers.append(keras.layers.Dense(n_classes, kernel_regularizer=regularizer, name=LOGITS))
    else:
        layers.append(keras.layers.Dense(n_classes, name=LOGITS))
    layers.append(keras.layers.Softmax(name=PROBABILITIES))
    return keras.Sequential(layers, name="isit_head")


def keras_linear_head(solution: LinearSolution, n_classes: int | None = None) -> Any:
    """The exact solution as a Keras head (float32 weights): what was exported before the
    head became ONNX nodes; tests compare the two exports."""
    feature_dim, classes = solution.kernel.shape
    model = build_head(feature_dim, n_classes or classes, HeadConfig(hidden=0))
    model.get_layer(LOGITS).set_weights(
        [solution.kernel.astype(np.float32), solution.bias.astype(np.float32)]
    )
    return model


# ------------------------------------------------------------------ training


class HeadTrainer:
    """Fits heads of one shape: the exact solver (``hidden=0``) or Keras (``hidden>0``).

    Why a class: cross-validation re-fits one trainer per fold. The Keras path compiles
    its model once and resets it before each fit (building and tracing costs seconds).
    """

    def __init__(self, feature_dim: int, n_classes: int, config: HeadConfig = HeadConfig()):
        self.feature_dim = feature_dim
        self.n_classes = n_classes
        self.config = config
        self._keras: _KerasTrainer | None = None

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        *,
        groups: np.ndarray | None = None,
    ) -> HeadResult:
        """Fit on the training photos (and, exact path, the validation photos too: the
        solver needs no stopping set, so they add data; C is chosen by inner CV over
        both, grouped by ``groups`` (for the rows of ``x_train`` then ``x_val``) when
        given, else each row on its own)."""
        started = time.perf_counter()
        if self.config.hidden:
            if self._keras is None:
                self._keras = _KerasTrainer(self.feature_dim, self.n_classes, self.config)
            result = self._keras.fit(x_train, y_train, x_val, y_val)
        else:
            result = self._fit_exact(x_train, y_train, x_val, y_val, groups)
        result.seconds = time.perf_counter() - started
        return result

    def _fit_exact(self, x_train, y_train, x_val, y_val, groups) -> HeadResult:
        x, y = np.asarray(x_train, np.float64), np.asarray(y_train, np.int64)
        if x_val is not None and y_val is not None and len(y_val):
            x = np.concatenate([x, np.asarray(x_val, np.float64)])
            y = np.concatenate([y, np.asarray(y_val, np.int64)])
        if groups is not None and len(groups) != len(y):
            raise ValueError(f"groups has {len(groups)} entries for {len(y)} photos")
        c, scores, oof = choose_c_out_of_fold(x, y, groups, self.config)
        solution = fit_linear(x, y, self.n_classes, c, self.config.max_iter)
        # Named after what chose C (the inner-CV error rate), with the C the model uses.
        grid = sorted(self.config.c_grid)
        history = {"C": grid, "cv_error_rate": scores, "chosen_C": [c]} if scores else {}
        if oof is not None and oof.shape[1] < self.n_classes:  # top classes absent here
            oof = np.pad(oof, ((0, 0), (0, self.n_classes - oof.shape[1])))
        return HeadResult(
            model=solution,  # NumPy: exported as ONNX nodes, no TensorFlow on this path
            history=history,
            chosen_c=c,
            calibration=None if oof is None else (oof, y),
        )


class _KerasTrainer:
    """The hidden-layer head: Adam, dropout, L2, early stopping on validation loss."""

    def __init__(self, feature_dim: int, n_classes: int, config: HeadConfig):
        import keras

        keras.utils.set_random_seed(config.seed)
        self.config = config
        self.n_classes = n_classes
        self.feature_dim = feature_dim
        self.model: Any = None
        self._fits = 0

    def _compile(self, x: np.ndarray) -> None:
        import keras

        keras.utils.set_random_seed(self.config.seed + self._fits)
        mean = var = None
        if self.config.standardise:
            mean, scale = _standardiser(np.asarray(x, np.float64))
            mean, var = mean.astype(np.float32), (scale**2).astype(np.float32)
        self.model = build_head(self.feature_dim, self.n_classes, self.config, mean=mean,
                                variance=var)  # fmt: skip
        self.model.compile(
            optimizer=keras.optimizers.Adam(self.config.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )

    def fit(self, x_train, y_train, x_val=None, y_val=None) -> HeadResult:
        import keras
        import tensorflow as tf

        # A fresh model per fit: the standardisation is this training set's.
        self._compile(x_train)
        self._fits += 1
        config = self.config
        has_val = x_val is not None and y_val is not None and len(y_val) > 0
        callbacks = (
            [keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience,
                                           min_delta=config.min_delta,
                                           restore_best_weights=True)]
            if has_val else []
        )  # fmt: skip
        sample_weight = _sample_weights(y_train, self.n_classes).astype(np.float32)
        # tf.data pipelines, not numpy arrays: Keras' numpy adapter costs several times more
        # per epoch, which is most of the time on a few hundred feature vectors.
        train_ds = (
            tf.data.Dataset.from_tensor_slices((x_train, y_train, sample_weight))
            .shuffle(len(y_train), seed=config.seed, reshuffle_each_iteration=True)
            .batch(config.batch_size)
        )
        val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(1024) if has_val else None
        fit = self.model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                             callbacks=callbacks, shuffle=False, verbose=0)  # fmt: skip
        history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
        epochs_run = len(history.get("loss", []))
        best = int(np.argmin(history["val_loss"])) + 1 if has_val else epochs_run
        calibration = (predict_proba(self.model, x_val), np.asarray(y_val)) if has_val else None
        return HeadResult(model=self.model, history=history, epochs_run=epochs_run,
                          best_epoch=best, calibration=calibration)  # fmt: skip


def predict_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """Head probabilities for features (no dropout), float32, as model.onnx computes
    them: a :class:`LinearSolution` in float32 with float32 weights (the exported
    graph's), a Keras model called directly."""
    if isinstance(model, LinearSolution):
        kernel, bias = model.kernel.astype(np.float32), model.bias.astype(np.float32)
        return softmax(np.asarray(x, np.float32) @ kernel + bias)
    if len(x) == 0:
        return np.zeros((0, int(model.output_shape[-1])), dtype=np.float32)
    # A direct call: no per-model predict function to trace, and the arrays are small.
    return np.asarray(model(x, training=False), dtype=np.float32)
