"""Stage 3, head: the Keras head on the cached features, and the class centroids the
unknown score measures distances to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training import unknown as ood
from training.head import HeadConfig, HeadTrainer, predict_proba
from training.oof import out_of_fold
from training.pipeline.features import Features
from training.settings import TrainConfig


@dataclass(frozen=True)
class FittedHead:
    model: Any  # keras.Model: features [N, D] -> probabilities [N, C]
    centroids: np.ndarray  # [C, D] unit class directions (the unknown score's reference)
    epochs_run: int
    best_epoch: int
    history: dict[str, list[float]] = field(default_factory=dict)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return predict_proba(self.model, x)

    def ood_scores(self, x: np.ndarray) -> np.ndarray:
        return ood.ood_scores(x, self.centroids)


def head_config(config: TrainConfig) -> HeadConfig:
    return HeadConfig(epochs=config.epochs, seed=config.seed, hidden=config.hidden)


def fit_head(features: Features, n_classes: int, config: TrainConfig) -> FittedHead:
    """Fit on the training photos (and their augmented views); stop early on validation."""
    x_fit = np.concatenate([features.x_train, features.x_aug])
    y_fit = np.concatenate([features.y_train, features.y_aug])
    trainer = HeadTrainer(x_fit.shape[1], n_classes, head_config(config))
    result = trainer.fit(x_fit, y_fit, features.x_val, features.y_val)
    return FittedHead(
        model=result.model,
        centroids=ood.class_centroids(features.x_train, features.y_train, n_classes),
        epochs_run=result.epochs_run,
        best_epoch=result.best_epoch,
        history=result.history,
    )


def out_of_fold_probabilities(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    config: TrainConfig,
    augmented: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Each photo's probabilities from a head that never saw it nor its duplicates.

    Each fold's head stops early on a grouped slice of its own training part.
    ``augmented``: ``(x_aug, index into x of the photo each view came from)``; a fold
    trains on the views of its own training photos only.
    """
    from sklearn.model_selection import GroupShuffleSplit

    trainer = HeadTrainer(x.shape[1], n_classes, head_config(config))

    def fit_and_score(train_idx: np.ndarray, held_idx: np.ndarray) -> np.ndarray:
        inner = GroupShuffleSplit(n_splits=1, test_size=0.15, random_state=config.seed)
        fit_rel, stop_rel = next(inner.split(train_idx, y[train_idx], groups[train_idx]))
        fit_idx, stop_idx = train_idx[fit_rel], train_idx[stop_rel]
        x_fit, y_fit = x[fit_idx], y[fit_idx]
        if augmented is not None and len(augmented[0]):
            keep = np.isin(augmented[1], fit_idx)
            x_fit = np.concatenate([x_fit, augmented[0][keep]])
            y_fit = np.concatenate([y_fit, y[augmented[1][keep]]])
        head = trainer.fit(x_fit, y_fit, x[stop_idx], y[stop_idx]).model
        return predict_proba(head, x[held_idx])

    return out_of_fold(
        fit_and_score, y, groups, folds=config.folds, seed=config.seed, n_classes=n_classes
    ).astype(np.float32)
