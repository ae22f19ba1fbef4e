"""Grouped, stratified folds and out-of-fold scoring: "score each photo with something
that never saw it" (the cross-validation folds, the label review's held-out
probabilities).

Duplicates share a group, so a photo is never scored by a model that saw its copy.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from training.settings import FIT_WORKERS, FOLDS, SEED

# fit_and_score(fit_idx, held_idx) -> scores of the held photos, shape [len(held_idx), ...]
FoldScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
T = TypeVar("T")


def fold_count(y: np.ndarray, folds: int) -> int:
    """``folds`` lowered to the size of the smallest class present, so every class can
    appear in every fold; 0 when that is under 2 (no folds: nothing to hold out)."""
    counts = np.bincount(np.asarray(y, np.int64))
    present = counts[counts > 0]
    k = min(folds, int(present.min())) if len(present) else 0
    return k if k >= 2 else 0


def grouped_folds(
    y: np.ndarray, groups: np.ndarray, folds: int = FOLDS, seed: int = SEED
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(fit_idx, held_idx)`` pairs of a stratified group k-fold, ``k`` from
    :func:`fold_count` (``[]`` when it is 0); groups never straddle. The one fold
    helper: cross-validation's outer folds, the head's inner folds choosing C, the label
    review's folds. The folds are scikit-learn's ``StratifiedGroupKFold(k, shuffle=True,
    random_state=seed)``'s, computed by :func:`_fold_of_groups`."""
    k = fold_count(y, folds)
    if not k:
        return []
    y = np.asarray(y)
    _, y_inv, y_cnt = np.unique(y, return_inverse=True, return_counts=True)
    _, groups_inv = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(groups_inv.max()) + 1 if len(groups_inv) else 0
    if k > n_groups:
        raise ValueError(f"Cannot have {k} folds with only {n_groups} groups.")
    counts = np.zeros((n_groups, len(y_cnt)))
    np.add.at(counts, (groups_inv.ravel(), y_inv.ravel()), 1)
    perm = np.arange(n_groups)
    np.random.RandomState(seed).shuffle(perm)
    fold_of_group = np.empty(n_groups, np.int64)
    fold_of_group[perm] = _fold_of_groups(counts[perm], y_cnt, k)
    fold_of_row = fold_of_group[groups_inv.ravel()]
    return [(np.flatnonzero(fold_of_row != i), np.flatnonzero(fold_of_row == i)) for i in range(k)]


def _fold_of_groups(counts: np.ndarray, y_cnt: np.ndarray, k: int) -> np.ndarray:
    """scikit-learn's greedy StratifiedGroupKFold assignment (groups, in their shuffled
    order, sorted by the spread of their class counts; each to the fold whose class
    proportions it evens out most; near ties to the smaller fold), with every fold's
    candidate scored in one NumPy call instead of one per fold: the same arithmetic in
    the same order, so the same folds, without the Python loop that cost seconds per
    cross-validation on folders of single-photo groups."""
    order = np.argsort(-np.std(counts, axis=1), kind="stable")
    per_fold = np.zeros((k, counts.shape[1]))
    chosen = np.empty(len(counts), np.int64)
    eye = np.eye(k)[:, :, None]
    for g in order:
        proposals = per_fold[None, :, :] + eye * counts[g][None, None, :]
        evals = np.mean(np.std(proposals / y_cnt, axis=1), axis=1)
        sizes = per_fold.sum(axis=1)
        best, min_eval, min_size = 0, math.inf, math.inf
        for i in range(k):
            e, size = float(evals[i]), float(sizes[i])
            close = abs(e - min_eval) <= 1e-8 + 1e-5 * abs(min_eval)  # np.isclose
            if e < min_eval or (close and size < min_size):
                best, min_eval, min_size = i, e, size
        per_fold[best] += counts[g]
        chosen[g] = best
    return chosen


_single = threading.local()  # depth of nested single_threaded() blocks, per thread


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """BLAS and OpenMP on one thread: the fits, folds and k-means of training are small,
    and threads fighting over a shared 2-core machine made them several times slower.
    Nested blocks cost nothing (finding the thread pools costs milliseconds a time)."""
    from threadpoolctl import threadpool_limits

    depth = getattr(_single, "depth", 0)
    _single.depth = depth + 1
    try:
        if depth:
            yield
        else:
            with threadpool_limits(1):
                yield
    finally:
        _single.depth = depth


def out_of_fold(
    fit_and_score: FoldScorer,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    folds: int = FOLDS,
    seed: int = SEED,
) -> np.ndarray | None:
    """Every photo's score from the fold that held it out, in input order; None when
    there are no folds (a class under 2 photos)."""
    result: np.ndarray | None = None
    for fit_idx, held_idx in grouped_folds(y, groups, folds, seed):
        scores = np.asarray(fit_and_score(fit_idx, held_idx))
        if result is None:
            result = np.zeros((len(y), *scores.shape[1:]), dtype=scores.dtype)
        result[held_idx] = scores
    return result


# ------------------------------------------------------------------ fits in parallel

# The job of the forked workers: inherited through fork with the arrays it closes over,
# so only task numbers and answers cross the pipes (nothing else is pickled).
_job: Callable[[int], Any] | None = None
_in_worker = False
_worker_limits: Any = None


def worker_count(tasks: int, workers: int = FIT_WORKERS) -> int:
    """Processes for ``tasks`` independent fits: ``workers``, at most the cores this
    process may use and the tasks; 1 (run here) without fork, inside a worker, or once
    TensorFlow is loaded (its threads do not survive a fork: a Keras head, fine-tuning)."""
    if _in_worker or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if "tensorflow" in sys.modules:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(workers, cores or 1, tasks))


def _die_with_parent(parent: int) -> None:
    """Linux: the worker is killed when the process that forked it dies (kill -9 included),
    instead of finishing its fit for nobody."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the worker ends with its task
        return
    if os.getppid() != parent:  # the parent died before prctl: nobody will ask for more
        os._exit(1)


def _start_worker(parent: int) -> None:
    global _in_worker, _worker_limits
    _in_worker = True
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's: it stops the pool
    # One BLAS/OpenMP thread: small fits, and OpenMP (k-means) is only safe after a fork
    # when it starts no threads of its own. For the worker's life: single_threaded()
    # blocks inside it then cost nothing (finding the pools again costs milliseconds).
    from threadpoolctl import threadpool_limits

    _worker_limits = threadpool_limits(1)
    _single.depth = 1


def _run_job(task: int) -> Any:
    assert _job is not None
    return _job(task)


def map_fits(
    job: Callable[[int], T],
    tasks: int,
    *,
    workers: int = FIT_WORKERS,
    on_done: Callable[[], object] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> list[T]:
    """``[job(0), ..., job(tasks - 1)]``, on forked worker processes when there are two
    cores or more (:func:`worker_count`), else here, one after another; ``on_done`` is
    called as each answer arrives, in order; ``meanwhile()`` runs here while the workers
    work (first, without workers). ``job`` must be pure NumPy/scikit-learn (no
    TensorFlow, no onnxruntime session: neither survives a fork); its answers are the
    same either way (one BLAS thread in both), so the caller may combine them in task
    order as before."""
    global _job
    count = worker_count(tasks, workers)
    if count < 2:
        if meanwhile is not None:
            meanwhile()
        answers = []
        with single_threaded():
            for task in range(tasks):
                answers.append(job(task))
                if on_done is not None:
                    on_done()
        return answers
    _job = job
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(count, initializer=_start_worker, initargs=(os.getpid(),)) as pool:
            answers, running = [], pool.imap(_run_job, range(tasks))
            if meanwhile is not None:
                meanwhile()
            for answer in running:
                answers.append(answer)
                if on_done is not None:
                    on_done()
            return answers
    finally:
        _job = None
