"""Train the tail of the backbone with a softmax layer, on cached cut activations.

Why this recipe: a few hundred photos are enough to nudge the last stage, not to retrain
it. The softmax layer starts from the exact linear head on the pretrained features (so
the first steps improve the features, not a random head), BatchNorm keeps its ImageNet
statistics (batches of 32 would only add noise to them), Adam with a small step. With a
stopping set, the epoch with the lowest stopping loss is kept, epoch 0 (the pretrained
tail) included: fine-tuning never makes the features worse on those photos. Without one
(the final model of a cross-validated run), it trains for the folds' median best epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from training import settings
from training.finetune.stages import Split
from training.model.head import _sample_weights, fit_linear


@dataclass(frozen=True)
class TuneConfig:
    stages: int = settings.FINE_TUNE_STAGES
    max_epochs: int = settings.FINE_TUNE_MAX_EPOCHS
    patience: int = 3  # epochs without a lower stopping loss before stopping
    learning_rate: float = 1e-4
    batch_size: int = 32
    warm_c: float = 0.01  # the starting softmax layer's regularisation (standardised features)
    seed: int = settings.SEED


@dataclass(frozen=True)
class Tuned:
    """The tail's weights after fine-tuning, and how it went."""

    weights: list[np.ndarray] = field(repr=False)
    best_epoch: int  # 0: the pretrained tail was best
    epochs_run: int
    seconds: float
    stop_losses: tuple[float, ...] = ()


def _classifier(split: Split, x_start: np.ndarray, y: np.ndarray, n_classes: int, c: float):
    """The tail with a softmax layer warm-started from the exact head at C=``c``."""
    from training.tf_runtime import import_keras

    keras = import_keras()
    start = fit_linear(x_start, y, n_classes, c)
    dense = keras.layers.Dense(n_classes, activation="softmax", name="fine_tune_softmax")
    model = keras.Model(split.tail.inputs, dense(split.tail.output))
    dense.set_weights([start.kernel.astype(np.float32), start.bias.astype(np.float32)])
    for layer in split.tail.layers:  # BatchNorm stays in inference mode, frozen
        layer.trainable = type(layer).__name__ != "BatchNormalization"
    return model


def _loss(model, x: np.ndarray, y: np.ndarray, shape: tuple[int, ...]) -> float:
    p = np.asarray(model.predict(x.reshape((-1, *shape)), batch_size=256, verbose=0))
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-7))))


def fine_tune(
    split: Split,
    train: tuple[np.ndarray, np.ndarray],
    n_classes: int,
    config: TuneConfig,
    stop: tuple[np.ndarray, np.ndarray] | None = None,
    epochs: int | None = None,
) -> Tuned:
    """Fine-tune ``split``'s tail (from its pretrained weights) on ``train`` = (flattened
    cut activations, classes); early stopping on ``stop`` (same form), else ``epochs``."""
    from training.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(config.seed)
    started = time.perf_counter()
    split.reset()
    x, y = train
    shape = split.cut_shape
    model = _classifier(split, split.features(x), y, n_classes, config.warm_c)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="sparse_categorical_crossentropy")  # fmt: skip
    planned = config.max_epochs if stop is not None else int(epochs or 0)
    best, best_epoch, losses = split.tail.get_weights(), 0, []
    if stop is not None:
        losses.append(_loss(model, *stop, shape))
    weights = _sample_weights(y, n_classes)
    images = x.reshape((-1, *shape))
    for epoch in range(1, planned + 1):
        model.fit(images, y, sample_weight=weights, batch_size=config.batch_size, epochs=1,
                  shuffle=True, verbose=0)  # fmt: skip
        if stop is None:
            best, best_epoch = split.tail.get_weights(), epoch
            continue
        losses.append(_loss(model, *stop, shape))
        if losses[-1] < min(losses[:-1]):
            best, best_epoch = split.tail.get_weights(), epoch
        elif epoch - best_epoch >= config.patience:
            break
    split.tail.set_weights(best)
    run = len(losses) - 1 if stop is not None else planned
    return Tuned(best, best_epoch, run, time.perf_counter() - started, tuple(losses))
