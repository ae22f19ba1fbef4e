"""Fine-tuning's fold protocol (issue 28): no fold's fine-tuning ever sees a photo it is
scored on, nor its mirror image or augmented views (a planted check, no Keras)."""

from __future__ import annotations

import numpy as np

from training.finetune import protocol
from training.model.folds import grouped_folds
from training.pipeline.crossvalidate import cross_validate
from training.settings import TrainConfig

DIM = 6


class FakeSplit:
    """A tail without Keras: features are the activations' first columns."""

    stages = 1

    def features(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x[:, :DIM], np.float32)


def _tuning(n: int, n_aug_per_photo: int, config: TrainConfig) -> protocol.Tuning:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    groups = np.array([f"g{i // 2}" for i in range(n)])  # pairs of duplicates
    # Column DIM plants every view's photo (and kind: .0 photo, .5 mirror, .25 augmented).
    photos = np.c_[rng.normal(y[:, None], 1.0, (n, DIM)), np.arange(n)]
    mirrors = np.c_[photos[:, :DIM] + 0.1, np.arange(n) + 0.5]
    aug_index = np.repeat(np.arange(n), n_aug_per_photo)
    augmented = np.c_[photos[aug_index, :DIM] + 0.2, aug_index + 0.25]
    empty = np.zeros((0, DIM + 1))
    return protocol.Tuning(config, protocol.TuneConfig(), y, groups, FakeSplit(),  # type: ignore[arg-type]
                           photos, mirrors, augmented, aug_index, empty, empty)  # fmt: skip


def test_every_fold_fine_tunes_on_its_own_training_photos_only(monkeypatch):
    config = TrainConfig(fine_tune=True, folds=4, seed=3)
    n = 48
    tuning = _tuning(n, 2, config)
    seen: list[tuple[set[int], set[int]]] = []

    def fake_fine_tune(split, train, n_classes, tune_config, stop=None, epochs=None):
        trained = {int(v) for v in np.floor(train[0][:, DIM])}
        stopped = {int(v) for v in np.floor(stop[0][:, DIM])} if stop is not None else set()
        seen.append((trained, stopped))
        return _Tuned()

    monkeypatch.setattr(protocol, "fine_tune", fake_fine_tune)
    cv = cross_validate(tuning.photos[:, :DIM], tuning.y, tuning.groups, 3, config,
                        (tuning.augmented[:, :DIM], tuning.aug_index), repeats=1,
                        fold_features=tuning.fold_features)  # fmt: skip
    folds = grouped_folds(tuning.y, tuning.groups, config.folds, config.seed)
    assert len(seen) == len(folds) == config.folds and cv.folds == config.folds
    for (trained, stopped), (fit_idx, held_idx) in zip(seen, folds, strict=True):
        held = set(held_idx.tolist())
        assert not trained & held and not stopped & held  # the planted rows never leak
        assert trained | stopped == set(fit_idx.tolist())  # and every training photo is used
        assert stopped and not trained & stopped  # early stopping on photos it did not train on
        # duplicates (a group) are never split between training and stopping
        assert not {tuning.groups[i] for i in trained} & {tuning.groups[i] for i in stopped}
    assert np.isfinite(cv.probabilities).all()


class _Tuned:
    best_epoch = 2
    seconds = 0.01
