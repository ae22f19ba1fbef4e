"""Stage 3b, head: the Keras head the exported model carries, its temperature, and the
class centroids the unknown score measures distances to.

With a test split, the head learns from the training photos (and their augmented
views), stops early on the validation photos, and its temperature is fitted on them.
With a cross-validated headline, it learns from every photo, for as many epochs as the
folds' heads stopped at, and its temperature is fitted on the out-of-fold predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training import unknown as ood
from training.calibration import apply_temperature, fit_temperature
from training.head import HeadTrainer, predict_proba
from training.pipeline.crossval import CrossValidated, head_config
from training.pipeline.data import TrainingData
from training.pipeline.features import Features
from training.settings import TrainConfig


@dataclass(frozen=True)
class FittedHead:
    model: Any  # keras.Model: features [N, D] -> probabilities [N, C] (before temperature)
    centroids: np.ndarray  # [C, D] unit class directions (the unknown score's reference)
    temperature: float  # applied to the head's probabilities, inside model.onnx too
    temperature_fitted_on: str
    epochs_run: int
    best_epoch: int
    history: dict[str, list[float]] = field(default_factory=dict)

    def raw_probabilities(self, x: np.ndarray) -> np.ndarray:
        return predict_proba(self.model, x)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Calibrated: what model.onnx outputs."""
        return apply_temperature(self.raw_probabilities(x), self.temperature)

    def ood_scores(self, x: np.ndarray) -> np.ndarray:
        return ood.ood_scores(x, self.centroids)


def _fit_on_training_split(features: Features, n_classes: int, config: TrainConfig) -> FittedHead:
    x_fit = np.concatenate([features.x_train, features.x_aug])
    y_fit = np.concatenate([features.y_train, features.y_aug])
    trainer = HeadTrainer(x_fit.shape[1], n_classes, head_config(config))
    result = trainer.fit(x_fit, y_fit, features.x_val, features.y_val)
    temperature = fit_temperature(predict_proba(result.model, features.x_val), features.y_val)
    return FittedHead(
        model=result.model,
        centroids=ood.class_centroids(features.x_train, features.y_train, n_classes),
        temperature=temperature,
        temperature_fitted_on=f"{len(features.y_val)} validation photos",
        epochs_run=result.epochs_run,
        best_epoch=result.best_epoch,
        history=result.history,
    )


def _fit_on_everything(
    features: Features, cv: CrossValidated, n_classes: int, config: TrainConfig
) -> FittedHead:
    x_all, y_all = features.all_x(), features.all_y()
    epochs = cv.final_epochs()
    trainer = HeadTrainer(x_all.shape[1], n_classes, head_config(config, epochs))
    result = trainer.fit(
        np.concatenate([x_all, features.x_aug]), np.concatenate([y_all, features.y_aug])
    )
    return FittedHead(
        model=result.model,
        centroids=ood.class_centroids(x_all, y_all, n_classes),
        temperature=fit_temperature(cv.raw_probabilities, y_all),
        temperature_fitted_on=f"out-of-fold predictions of {len(y_all)} photos",
        epochs_run=result.epochs_run,
        best_epoch=epochs,
        history=result.history,
    )


def fit_head(
    data: TrainingData, features: Features, config: TrainConfig, cv: CrossValidated | None
) -> FittedHead:
    n_classes = len(data.labels)
    if cv is None:
        return _fit_on_training_split(features, n_classes, config)
    return _fit_on_everything(features, cv, n_classes, config)
