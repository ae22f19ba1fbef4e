"""Cross-validation: every photo scored by a pipeline that never saw it.

Used for the headline when the test split is too small to say much
(:meth:`training.pipeline.load.TrainingData.headline_by_cross_validation`). Each fold runs
the whole training recipe on the other folds' photos: a head (its regularisation chosen
by inner cross-validation on them), a temperature fitted on its inner out-of-fold
predictions, the unknown score's reference photos, and an unknown threshold from their
own leave-one-cluster-out scores.
So a held-out photo's calibrated answer and its "not sure" are what a model trained
without it would have said. The k-fold is
repeated with other fold assignments (``CV_REPEATS``) and each photo's numbers are
averaged over the repetitions. Duplicate groups never straddle folds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.model import unknown as ood
from training.model.folds import grouped_folds
from training.model.head import HeadConfig, HeadResult, HeadTrainer, predict_proba
from training.model.temperature import apply_temperature, fit_temperature
from training.settings import CV_REPEATS, FIT_WORKERS, TrainConfig
from training.workers import map_fits

# A fold's own features (x, x_aug) from the indices of its training photos.
FoldFeatures = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
STOP_SHARE = 0.15  # of a fold's training photos, held for early stopping and temperature


def head_config(config: TrainConfig, epochs: int | None = None) -> HeadConfig:
    """The head's settings for a training configuration (``epochs`` overrides its own)."""
    return HeadConfig(epochs=epochs or config.epochs, seed=config.seed, hidden=config.hidden)


@dataclass(frozen=True)
class CrossValidated:
    """Per photo, averaged over repetitions: what models that never saw it answered."""

    raw_probabilities: np.ndarray  # [N, C] head outputs before temperature scaling
    probabilities: np.ndarray  # [N, C] calibrated by each fold's own temperature
    ood: np.ndarray  # [N] unknown score against the fold's reference photos
    thresholds: np.ndarray  # [N] the fold's own unknown threshold
    best_epochs: tuple[int, ...]  # early-stopping epoch of every fold's head
    folds: int
    repeats: int
    # The head on every photo, when it was fitted alongside the folds (``alongside``).
    final_head: HeadResult | None = None

    def final_epochs(self) -> int:
        """Epochs for the head trained on every photo: the folds' median best epoch."""
        return max(1, int(np.median(self.best_epochs))) if self.best_epochs else 1


@dataclass(frozen=True)
class _FoldAnswer:
    """What one fold's model said about the photos it held out."""

    held_idx: np.ndarray
    raw: np.ndarray  # [held, C] head outputs
    calibrated: np.ndarray  # [held, C] after the fold's temperature
    ood: np.ndarray  # [held] unknown score against the fold's reference photos
    threshold: float  # the fold's own unknown threshold
    best_epoch: int


def _split_for_stopping(
    fit_idx: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int, keras_head: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A Keras head stops early on a grouped slice of its photos; the exact solver needs
    none (it chooses its regularisation by inner cross-validation on all of them)."""
    if not keras_head:
        return fit_idx, fit_idx[:0]
    from sklearn.model_selection import GroupShuffleSplit

    inner = GroupShuffleSplit(n_splits=1, test_size=STOP_SHARE, random_state=seed)
    fit_rel, stop_rel = next(inner.split(fit_idx, y[fit_idx], groups[fit_idx]))
    return fit_idx[fit_rel], fit_idx[stop_rel]


def fit_recipe_head(
    trainer: HeadTrainer,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    augmented: tuple[np.ndarray, np.ndarray],
    fit_idx: np.ndarray,
    seed: int,
) -> tuple[HeadResult, float]:
    """The head and its temperature, learnt from the photos ``fit_idx`` of ``rows``
    ``(x, y, groups)`` and their augmented views (``(x_aug, index of the source row)``);
    the temperature from the head's own held-out predictions of those photos."""
    x, y, groups = rows
    train_idx, stop_idx = _split_for_stopping(fit_idx, y, groups, seed, trainer.config.hidden > 0)
    x_aug, aug_index = augmented
    keep = np.isin(aug_index, train_idx)
    result = trainer.fit(
        np.concatenate([x[train_idx], x_aug[keep]]),
        np.concatenate([y[train_idx], y[aug_index[keep]]]),
        x[stop_idx],
        y[stop_idx],
        groups=np.concatenate([groups[train_idx], groups[aug_index[keep]], groups[stop_idx]]),
    )
    temperature = fit_temperature(*result.calibration) if result.calibration else 1.0
    return result, temperature


def _exact_fold(
    config: HeadConfig,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    augmented: tuple[np.ndarray, np.ndarray],
    fit_idx: np.ndarray,
    x_held: np.ndarray,
    n_classes: int,
) -> tuple[np.ndarray, float]:
    """Held-out probabilities of the exact head learnt from ``fit_idx`` (+ their views),
    and the temperature fitted on its inner out-of-fold predictions."""
    from training.model.head import fit_fold_calibrated

    x, y, groups = rows
    x_aug, aug_index = augmented
    keep = np.isin(aug_index, fit_idx)
    y_fit = np.concatenate([y[fit_idx], y[aug_index[keep]]])
    solution, oof = fit_fold_calibrated(
        np.concatenate([x[fit_idx], x_aug[keep]]),
        y_fit,
        config,
        n_classes=n_classes,
        groups=np.concatenate([groups[fit_idx], groups[aug_index[keep]]]),
    )
    temperature = fit_temperature(oof, y_fit) if oof is not None else 1.0
    return solution.predict_proba(x_held), temperature


def _fold(
    trainer: HeadTrainer,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    fit_idx: np.ndarray,
    held_idx: np.ndarray,
    augmented: tuple[np.ndarray, np.ndarray],
    seed: int,
    n_classes: int,
    unknown_acceptance: float,
) -> _FoldAnswer:
    """Train the recipe on ``fit_idx``, answer ``held_idx``."""
    x, y, groups = rows
    if trainer.config.hidden:
        result, temperature = fit_recipe_head(trainer, rows, augmented, fit_idx, seed)
        raw, best_epoch = predict_proba(result.model, x[held_idx]), result.best_epoch
    else:  # the exact head in NumPy: no Keras model to build per fold
        raw, temperature = _exact_fold(
            trainer.config, rows, augmented, fit_idx, x[held_idx], n_classes
        )
        best_epoch = 0
    reference = ood.fit_reference(x[fit_idx], y[fit_idx], groups[fit_idx], seed=seed)
    return _FoldAnswer(
        held_idx,
        raw,
        apply_temperature(raw, temperature),
        ood.ood_scores(x[held_idx], reference),
        ood.choose_threshold(reference.calibration, unknown_acceptance),
        best_epoch,
    )


def cross_validate(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    config: TrainConfig,
    augmented: tuple[np.ndarray, np.ndarray],
    repeats: int = CV_REPEATS,
    on_fold: Callable[[], object] | None = None,
    workers: int = FIT_WORKERS,
    meanwhile: Callable[[], object] | None = None,
    alongside: Callable[[], HeadResult] | None = None,
    fold_features: FoldFeatures | None = None,
) -> CrossValidated:
    """``augmented``: ``(x_aug, index into x of the photo each view came from)``; a fold
    trains on the views of its own training photos only. ``on_fold``: called after each
    fold (a progress bar's update). The exact head's folds run on up to ``workers``
    processes (:func:`training.workers.map_fits`, ``meanwhile()`` runs here as they
    work); their answers are summed in fold order, so they are the same as one after
    another. ``alongside()``: the final head's fit, run with the folds (first: it is the
    longest) and kept as ``final_head``. ``fold_features(fit_idx)``: the fold's own ``(x,
    x_aug)`` (a backbone fine-tuned on ``fit_idx`` only: training.finetune) instead of
    ``x`` and ``augmented``'s."""
    trainer = HeadTrainer(x.shape[1], n_classes, head_config(config))
    splits = [
        (fit_idx, held_idx, config.seed + r)
        for r in range(repeats)
        for fit_idx, held_idx in grouped_folds(y, groups, config.folds, config.seed + r)
    ]

    extra = [alongside] if alongside is not None else []

    def task(number: int) -> _FoldAnswer | HeadResult:
        if number < len(extra):
            return extra[number]()
        fit_idx, held_idx, seed = splits[number - len(extra)]
        rows, views = (x, y, groups), augmented
        if fold_features is not None:
            fx, fx_aug = fold_features(fit_idx)
            rows, views = (fx, y, groups), (fx_aug, augmented[1])
        return _fold(trainer, rows, fit_idx, held_idx, views, seed, n_classes,
                     config.unknown_acceptance)  # fmt: skip

    # Keras (a hidden head, fine-tuning) neither survives a fork nor needs one (it has its
    # own threads).
    keras = config.hidden or fold_features is not None
    done = map_fits(task, len(extra) + len(splits), workers=1 if keras else workers,
                    on_done=None if on_fold is None else lambda _: on_fold(),
                    meanwhile=meanwhile)  # fmt: skip
    answers = [a for a in done[len(extra) :] if isinstance(a, _FoldAnswer)]
    n = len(y)
    raw, calibrated = np.zeros((n, n_classes)), np.zeros((n, n_classes))
    scores, thresholds = np.zeros(n), np.zeros(n)
    for answer in answers:  # in fold order: the same sums as before the folds ran apart
        raw[answer.held_idx] += answer.raw
        calibrated[answer.held_idx] += answer.calibrated
        scores[answer.held_idx] += answer.ood
        thresholds[answer.held_idx] += answer.threshold
    return CrossValidated(
        raw_probabilities=(raw / repeats).astype(np.float32),
        probabilities=(calibrated / repeats).astype(np.float32),
        ood=(scores / repeats).astype(np.float32),
        thresholds=(thresholds / repeats).astype(np.float32),
        best_epochs=tuple(a.best_epoch for a in answers),
        folds=len(splits) // repeats if repeats else 0,
        repeats=repeats,
        final_head=done[0] if extra and isinstance(done[0], HeadResult) else None,
    )
