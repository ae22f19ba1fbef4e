"""Fits on two processes (issue 25): the same answers as one after another, in order."""

from __future__ import annotations

import os

import numpy as np
import pytest

from training.model.folds import map_fits, worker_count
from training.pipeline.crossvalidate import cross_validate
from training.settings import TrainConfig

two_cores = pytest.mark.skipif(worker_count(2) < 2, reason="needs 2 cores and fork")


def _square(task: int) -> tuple[int, int]:
    return task, task * task


@two_cores
def test_answers_come_back_in_task_order_from_other_processes():
    done = []
    answers = map_fits(lambda t: (*_square(t), os.getpid()), 7, on_done=lambda: done.append(1))
    assert [a[:2] for a in answers] == [_square(t) for t in range(7)]
    assert len(done) == 7
    assert os.getpid() not in {a[2] for a in answers}  # forked workers did the work


def test_one_worker_runs_here_and_a_worker_never_forks_again():
    here = os.getpid()
    assert map_fits(lambda t: (t, os.getpid()), 3, workers=1) == [(t, here) for t in range(3)]

    def nested(task: int) -> int:  # a job that maps again runs its own tasks itself
        inner = map_fits(lambda t: os.getpid(), 2)
        return len(set(inner)) + 10 * (inner[0] == os.getpid())

    assert map_fits(nested, 2) == [11, 11]


def _features(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three classes of 30 photos (some duplicate pairs) in 24 feature dimensions."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), 30)
    x = rng.normal(size=(90, 24)).astype(np.float32) + 1.5 * np.eye(24, dtype=np.float32)[y]
    groups = np.arange(90)
    groups[1::10] = groups[0::10]  # copies share a group
    return x, y, groups


@two_cores
def test_cross_validation_on_two_processes_gives_exactly_the_serial_answers():
    x, y, groups = _features()
    augmented = (x[:10] + 0.01, np.arange(10))
    config = TrainConfig()
    serial = cross_validate(x, y, groups, 3, config, augmented, workers=1)
    parallel = cross_validate(x, y, groups, 3, config, augmented, workers=2)
    for name in ("raw_probabilities", "probabilities", "ood", "thresholds"):
        assert np.array_equal(getattr(serial, name), getattr(parallel, name)), name
    assert (serial.folds, serial.repeats, serial.best_epochs) == (
        parallel.folds,
        parallel.repeats,
        parallel.best_epochs,
    )


def test_the_final_head_fitted_alongside_the_folds_is_the_one_fitted_after_them():
    from training.model.head import HeadConfig, HeadTrainer

    x, y, groups = _features(1)
    augmented = (x[:0], np.arange(0))

    def final():
        return HeadTrainer(x.shape[1], 3, HeadConfig()).fit(x, y, groups=groups)

    cv = cross_validate(x, y, groups, 3, TrainConfig(), augmented, alongside=final)
    after = final()
    assert cv.final_head is not None and cv.final_head.chosen_c == after.chosen_c
    assert np.array_equal(cv.final_head.model.kernel, after.model.kernel)
    plain = cross_validate(x, y, groups, 3, TrainConfig(), augmented)
    assert plain.final_head is None
    assert np.array_equal(plain.probabilities, cv.probabilities)  # the folds are unchanged
