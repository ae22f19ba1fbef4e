"""A run's output folder is whole or absent, and never replaces an earlier run unasked.

Issue 26: ``train`` and ``evaluate`` write into a staging folder beside the target,
``.isit-incomplete-NAME-PID``, and move the files into place only when all of them are
written; an error or Ctrl+C removes the staging folder, and one left by a killed process
is swept by the next run (:mod:`training.leftovers`). Whether the target can be written
(and has room) is checked before the long work, and disk errors become one line.

Issue 24: a target that already holds a run's files is refused (:class:`RunExists`)
unless ``force``; only then are those files replaced, one rename each.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from isit.errors import IsitError
from training import settings
from training.leftovers import incomplete_name, sweep_incomplete, sweep_temp_files

TRAIN_FILES = ("model.onnx", "report.html", "held_out.csv", "metrics.json")  # metrics.json last
EVALUATE_FILES = ("report.html", "metrics.json")
# Errors that only writing can cause, wherever they come from; the others (permission,
# a file in the way) are the output's only when they name a path inside it.
_FULL = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up"}
_ALWAYS_WRITES = {*_FULL, errno.EROFS}
_PATH_ERRORS = {errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EISDIR}


class RunExists(IsitError):
    """The output folder holds an earlier run's files (exit status 2: bad arguments)."""

    code = "run_exists"


class OutputNotWritable(IsitError):
    """The output folder cannot be written (read-only, full, a file in the way)."""

    code = "output_not_writable"


def output_error(exc: OSError, target: Path) -> OutputNotWritable:
    """One line naming ``target`` and what to do about ``exc``."""
    reason = _FULL.get(exc.errno or 0) or exc.strerror or str(exc)
    if exc.errno in _FULL:
        todo = "free some space on that disk, or choose another folder with --out"
    else:
        todo = "choose a folder you can write to with --out"
    return OutputNotWritable(f"cannot write the results to {target} ({reason}): {todo}.")


def earlier_run(target: Path, files: Sequence[str]) -> list[str]:
    """The names of ``files`` that ``target`` already holds."""
    return [name for name in files if (target / name).exists()] if target.is_dir() else []


def refuse_earlier_run(target: Path, files: Sequence[str], force: bool) -> None:
    found = earlier_run(target, files)
    if found and not force:
        raise RunExists(
            f"{target} already holds a run ({', '.join(found)}); isit never replaces one "
            "unasked. Choose another --out folder, or add --force to replace it."
        )


def _check_room(parent: Path, target: Path) -> None:
    free_mb = shutil.disk_usage(parent).free // 2**20
    if free_mb < settings.OUTPUT_MIN_FREE_MB:
        raise OutputNotWritable(
            f"cannot write the results to {target}: only {free_mb} MB free on that disk, "
            f"{settings.OUTPUT_MIN_FREE_MB} MB needed. Free some space on that disk, or "
            "choose another folder with --out."
        )


def open_staging(target: Path, files: Sequence[str] = ()) -> Path:
    """A new empty staging folder beside ``target``, after sweeping dead runs' leftovers;
    raises :class:`OutputNotWritable` when that place cannot be written."""
    try:
        for place in (target, *target.parents):  # a file in the way, however far up
            if place.exists() and not place.is_dir():
                raise OSError(errno.ENOTDIR, f"{place} is a file, not a folder", str(place))
        parent = target.parent
        parent.mkdir(parents=True, exist_ok=True)
        sweep_incomplete(parent)
        sweep_temp_files(target, legacy=tuple(files))  # e.g. .model.onnx.k2j4h1x_.tmp
        _check_room(parent, target)
        staging = parent / incomplete_name(target.name)
        shutil.rmtree(staging, ignore_errors=True)  # our pid's: a dead run's before us
        staging.mkdir()
    except OSError as exc:
        raise output_error(exc, target) from exc
    return staging


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl+C (and SIGTERM) wait until the files are in place: the run is then whole."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def commit(staging: Path, target: Path, files: Sequence[str], force: bool) -> None:
    """Move the finished outputs into ``target``: the whole folder in one rename when
    ``target`` is absent or empty, else file by file (``files`` order, metrics.json last)."""
    with _signals_held():
        if not target.exists() or (target.is_dir() and not any(target.iterdir())):
            staging.rename(target)  # replaces an empty folder (one we reserved)
            return
        refuse_earlier_run(target, files, force)  # another run may have got there first
        for name in files:
            if (staging / name).exists():
                (staging / name).replace(target / name)


def _is_output_error(exc: OSError, places: Sequence[Path]) -> bool:
    named = [Path(p) for p in (exc.filename, exc.filename2) if p]
    inside = any(p == place or place in p.parents for p in named for place in places)
    if exc.errno in _ALWAYS_WRITES:  # a write() names no file: ours unless it names another
        return inside or not named
    return exc.errno in _PATH_ERRORS and inside


@contextlib.contextmanager
def staged_outputs(
    target: str | Path, files: Sequence[str], *, force: bool = False
) -> Iterator[Path]:
    """Yield a staging folder to write ``files`` into; on success they replace
    ``target``'s (see :func:`commit`), on any error nothing of ``target`` changes.

    Refuses an earlier run in ``target`` up front (:class:`RunExists`) unless ``force``.
    """
    target = Path(target)
    if target.is_symlink():
        target = target.resolve()
    refuse_earlier_run(target, files, force)
    staging = open_staging(target, files)
    try:
        yield staging
        commit(staging, target, files, force)
    except OSError as exc:
        if _is_output_error(exc, (staging, target)):
            raise output_error(exc, target) from exc
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
