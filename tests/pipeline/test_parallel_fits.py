"""Fits on two processes (issue 25): the same answers as one after another, in order.

The tests that need workers run in a fresh interpreter (tests/helpers/fresh_process.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fresh_process import run_fresh, two_cores

from training.pipeline.crossvalidate import cross_validate
from training.settings import TrainConfig
from training.workers import map_fits, worker_count


@two_cores
def test_answers_come_back_in_task_order_from_other_processes():
    run_fresh("""
        import os
        from training.workers import map_fits
        done = []
        answers = map_fits(lambda t: (t, t * t, os.getpid()), 7, on_done=done.append)
        assert [a[:2] for a in answers] == [(t, t * t) for t in range(7)]
        assert [a[:2] for a in done] == [(t, t * t) for t in range(7)]  # each, in order
        assert os.getpid() not in {a[2] for a in answers}  # forked workers did the work
    """)


def test_one_worker_runs_here_and_a_worker_never_forks_again():
    here = os.getpid()
    assert map_fits(lambda t: (t, os.getpid()), 3, workers=1) == [(t, here) for t in range(3)]

    def nested(task: int) -> int:  # a job that maps again runs its own tasks itself
        inner = map_fits(lambda t: os.getpid(), 2)
        return len(set(inner)) + 10 * (inner[0] == os.getpid())

    assert map_fits(nested, 2) == [11, 11]


def test_no_fork_once_tensorflow_is_loaded(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert worker_count(10) == 1


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
    run_fresh("""
        import numpy as np
        from tests.pipeline.test_parallel_fits import _features
        from training.pipeline.crossvalidate import cross_validate
        from training.settings import TrainConfig
        x, y, groups = _features()
        augmented = (x[:10] + 0.01, np.arange(10))
        serial = cross_validate(x, y, groups, 3, TrainConfig(), augmented, workers=1)
        parallel = cross_validate(x, y, groups, 3, TrainConfig(), augmented, workers=2)
        for name in ("raw_probabilities", "probabilities", "ood", "thresholds"):
            assert np.array_equal(getattr(serial, name), getattr(parallel, name)), name
        assert (serial.folds, serial.repeats, serial.best_epochs) == (
            parallel.folds, parallel.repeats, parallel.best_epochs)
    """)


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


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@two_cores
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc")
def test_workers_die_with_a_killed_parent(tmp_path):
    script = (
        "import os, time\n"
        "from training.workers import map_fits\n"
        "def job(task):\n"
        f"    open(os.path.join({str(tmp_path)!r}, str(os.getpid())), 'w').close()\n"
        "    time.sleep(60)\n"
        "map_fits(job, 4)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = [int(p.name) for p in tmp_path.iterdir()]
        assert len(workers) == 2
    finally:
        parent.kill()  # kill -9: no chance to stop its pool
        parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def test_features_use_the_cores_other_processes_leave_free():
    from training.pipeline.featurize import feature_threads
    from training.settings import FEATURE_THREADS

    assert feature_threads(cores=2, busy=0) == min(2, FEATURE_THREADS)  # idle: both
    assert feature_threads(cores=2, busy=1) == 1  # another process holds a core
    assert feature_threads(cores=2, busy=5) == 1  # at least one
    assert feature_threads(cores=8, busy=0) == FEATURE_THREADS  # at most the setting
    assert 1 <= feature_threads() <= FEATURE_THREADS  # this machine, now
