"""isit's head before issue 13 (training/head.py at 085a7cc), for bench_heads.py.

A dense softmax layer (optionally after one small hidden layer), L2 and dropout,
balanced class weights, early stopping on the validation split. On a few hundred
feature vectors this trains in seconds on a CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 0  # 0 = plain softmax regression on the features
    dropout: float = 0.2
    l2: float = 1e-4
    learning_rate: float = 1e-3
    epochs: int = 60
    batch_size: int = 32
    patience: int = 6  # early stopping on validation loss...
    min_delta: float = 1e-3  # ...once it improves by less than this (it creeps down forever)
    seed: int = 0


@dataclass
class HeadResult:
    model: Any  # keras.Model: features [N, D] -> probabilities [N, C]
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    best_epoch: int = 0


def class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    """Balanced weights: n / (C * count), so a small class counts as much as a big one."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weights = len(y) / (n_classes * np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


def build_head(feature_dim: int, n_classes: int, config: HeadConfig) -> Any:
    import keras

    regularizer = keras.regularizers.L2(config.l2) if config.l2 else None
    layers: list[Any] = [keras.Input(shape=(feature_dim,), name="features")]
    if config.dropout:
        layers.append(keras.layers.Dropout(config.dropout, seed=config.seed))
    if config.hidden:
        layers.append(
            keras.layers.Dense(config.hidden, activation="relu", kernel_regularizer=regularizer)
        )
        if config.dropout:
            layers.append(keras.layers.Dropout(config.dropout, seed=config.seed + 1))
    layers.append(
        keras.layers.Dense(
            n_classes, activation="softmax", kernel_regularizer=regularizer, name="probabilities"
        )
    )
    return keras.Sequential(layers, name="isit_head")


class HeadTrainer:
    """Compiles one head and re-fits it from the same initial state on new data.

    Why: building and tracing a fresh Keras model costs seconds, fitting a few hundred
    vectors a fraction of that; cross-validation folds reuse one trainer.
    """

    def __init__(self, feature_dim: int, n_classes: int, config: HeadConfig = HeadConfig()):
        import keras

        keras.utils.set_random_seed(config.seed)
        self.config = config
        self.n_classes = n_classes
        self.model = build_head(feature_dim, n_classes, config)
        optimizer = keras.optimizers.Adam(config.learning_rate)
        self.model.compile(
            optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        optimizer.build(self.model.trainable_variables)
        self._initial = self.model.get_weights()
        self._optimizer_initial = [v.numpy() for v in optimizer.variables]
        self._fits = 0

    def _reset(self) -> None:
        import keras

        keras.utils.set_random_seed(self.config.seed + self._fits)
        self.model.set_weights(self._initial)
        for variable, value in zip(
            self.model.optimizer.variables, self._optimizer_initial, strict=True
        ):
            variable.assign(value)

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> HeadResult:
        """Fit from the initial weights; with validation data, stop early on its loss and
        keep the best weights. The returned model is this trainer's (re-fitting changes it)."""
        import keras
        import tensorflow as tf

        self._reset()
        self._fits += 1
        config = self.config
        has_val = x_val is not None and y_val is not None and len(y_val) > 0
        callbacks = (
            [
                keras.callbacks.EarlyStopping(
                    monitor="val_loss",
                    patience=config.patience,
                    min_delta=config.min_delta,
                    restore_best_weights=True,
                )
            ]
            if has_val
            else []
        )
        weights = class_weights(y_train, self.n_classes)
        sample_weight = np.array([weights[int(c)] for c in y_train], dtype=np.float32)
        # tf.data pipelines, not numpy arrays: Keras' numpy adapter costs several times more
        # per epoch, which is most of the time on a few hundred feature vectors.
        train_ds = (
            tf.data.Dataset.from_tensor_slices((x_train, y_train, sample_weight))
            .shuffle(len(y_train), seed=config.seed, reshuffle_each_iteration=True)
            .batch(config.batch_size)
        )
        val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(1024) if has_val else None
        fit = self.model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=config.epochs,
            callbacks=callbacks,
            shuffle=False,  # the dataset shuffles
            verbose=0,
        )
        history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
        epochs_run = len(history.get("loss", []))
        best = int(np.argmin(history["val_loss"])) + 1 if has_val else epochs_run
        return HeadResult(model=self.model, history=history, epochs_run=epochs_run, best_epoch=best)


def train_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    n_classes: int,
    config: HeadConfig = HeadConfig(),
) -> HeadResult:
    """Fit a new head (see :class:`HeadTrainer`)."""
    return HeadTrainer(x_train.shape[1], n_classes, config).fit(x_train, y_train, x_val, y_val)


def predict_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """Head probabilities for features (no dropout), float32."""
    if len(x) == 0:
        return np.zeros((0, int(model.output_shape[-1])), dtype=np.float32)
    # A direct call: no per-model predict function to trace, and the arrays are small.
    return np.asarray(model(x, training=False), dtype=np.float32)
