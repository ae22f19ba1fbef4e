"""Work on forked worker processes, and BLAS on one thread: the plumbing every room's
parallel work shares (cross-validation's folds and final head, the features of many
photos).

Forked, not spawned: a worker starts in milliseconds with everything the parent imported
and the arrays its job closes over; only task numbers and answers cross the pipes. Each
worker runs one BLAS/OpenMP thread and dies with its parent.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from training.settings import FIT_WORKERS

T = TypeVar("T")

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
    on_done: Callable[[T], object] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> list[T]:
    """``[job(0), ..., job(tasks - 1)]``, on forked worker processes when there are two
    cores or more (:func:`worker_count`), else here, one after another; ``on_done(answer)``
    is called as each answer arrives, in order; ``meanwhile()`` runs here while the workers
    work (first, without workers). ``job`` must not use TensorFlow, nor an onnxruntime
    session opened before the fork (neither survives one; a job may open its own); its
    answers are the same either way (one BLAS thread in both), so the caller may combine
    them in task order as before."""
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
                    on_done(answers[-1])
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
                    on_done(answer)
            return answers
    finally:
        _job = None
