"""Head: the head the exported model carries, its temperature, and the reference
photos the unknown score measures distances to.

With a test split, the head learns from the training photos (and their augmented
views), stops early on the validation photos, and its temperature is fitted on them.
With a cross-validated headline, it learns from every photo, for as many epochs as the
folds' heads stopped at, and its temperature is fitted on the out-of-fold predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.model import unknown as ood
from training.model.head import HeadResult, HeadTrainer, predict_proba
from training.model.temperature import apply_temperature, fit_temperature
from training.pipeline.crossvalidate import CrossValidated, fit_recipe_head, head_config
from training.pipeline.featurize import Features
from training.pipeline.load import TrainingData
from training.settings import TrainConfig


@dataclass(frozen=True)
class FittedHead:
    model: Any  # keras.Model: features [N, D] -> probabilities [N, C] (before temperature)
    reference: ood.Reference  # what the unknown score measures distances to
    temperature: float  # applied to the head's probabilities, inside model.onnx too
    temperature_fitted_on: str
    epochs_run: int
    best_epoch: int
    history: dict[str, list[float]] = field(default_factory=dict)
    chosen_c: float | None = None  # the exact head's regularisation (None: Keras head)

    def raw_probabilities(self, x: np.ndarray) -> np.ndarray:
        return predict_proba(self.model, x)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Calibrated: what model.onnx outputs."""
        return apply_temperature(self.raw_probabilities(x), self.temperature)

    def ood_scores(self, x: np.ndarray) -> np.ndarray:
        return ood.ood_scores(x, self.reference)


def _fit_on_training_split(
    data: TrainingData, features: Features, n_classes: int, config: TrainConfig
) -> FittedHead:
    """Learn from train (+ views) and val; the test photos stay untouched."""
    x = np.concatenate([features.x_train, features.x_val])
    y = np.concatenate([features.y_train, features.y_val])
    groups = data.groups(data.train + data.val)
    trainer = HeadTrainer(x.shape[1], n_classes, head_config(config))
    # The exact head learns from train + val (it needs no stopping set); a Keras head
    # stops early on val. Either way the temperature comes from held-out predictions.
    if config.hidden:
        result = trainer.fit(
            np.concatenate([features.x_train, features.x_aug]),
            np.concatenate([features.y_train, features.y_aug]),
            features.x_val,
            features.y_val,
        )
        temperature = fit_temperature(*result.calibration) if result.calibration else 1.0
        fitted_on = f"{len(features.y_val)} validation photos"
    else:
        fit_idx = np.arange(len(y))
        result, temperature = fit_recipe_head(
            trainer, (x, y, groups), (features.x_aug, features.aug_index), fit_idx, config.seed
        )
        fitted_on = f"inner out-of-fold predictions of {len(y)} training photos"
    return FittedHead(
        model=result.model,
        reference=ood.fit_reference(x, y, groups, seed=config.seed),
        temperature=temperature,
        temperature_fitted_on=fitted_on,
        epochs_run=result.epochs_run,
        best_epoch=result.best_epoch,
        history=result.history,
        chosen_c=result.chosen_c,
    )


def head_on_everything(
    data: TrainingData, features: Features, config: TrainConfig, epochs: int | None = None
) -> HeadResult:
    """The head learnt from every photo and their views (a cross-validated headline's);
    ``epochs``: a Keras head's (the folds' median best epoch)."""
    x_all, y_all = features.all_x(), features.all_y()
    groups = data.groups(data.every_photo)
    trainer = HeadTrainer(x_all.shape[1], len(data.labels), head_config(config, epochs))
    # Views point at training photos, which come first in x_all.
    return trainer.fit(
        np.concatenate([x_all, features.x_aug]),
        np.concatenate([y_all, features.y_aug]),
        groups=np.concatenate([groups, groups[features.aug_index]]),
    )


def _fit_on_everything(
    data: TrainingData, features: Features, cv: CrossValidated, config: TrainConfig
) -> FittedHead:
    """The head on every photo (fitted alongside the folds, or now), its temperature from
    the folds' out-of-fold predictions."""
    x_all, y_all = features.all_x(), features.all_y()
    groups = data.groups(data.every_photo)
    result = cv.final_head or head_on_everything(data, features, config, cv.final_epochs())
    return FittedHead(
        model=result.model,
        reference=ood.fit_reference(x_all, y_all, groups, seed=config.seed),
        temperature=fit_temperature(cv.raw_probabilities, y_all),
        temperature_fitted_on=f"out-of-fold predictions of {len(y_all)} photos",
        epochs_run=result.epochs_run,
        best_epoch=result.best_epoch,
        history=result.history,
        chosen_c=result.chosen_c,
    )


def fit_head(
    data: TrainingData, features: Features, config: TrainConfig, cv: CrossValidated | None
) -> FittedHead:
    n_classes = len(data.labels)
    if cv is None:
        return _fit_on_training_split(data, features, n_classes, config)
    return _fit_on_everything(data, features, cv, config)
