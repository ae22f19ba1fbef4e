"""``predict --copy-to OUT``: sort copies of the photos into ``OUT/<label>/``, safely.

The rules (README, "Sort new photos"):

- Nothing is ever overwritten: every copy and the predictions file are created with
  ``O_EXCL``; when a name is taken, ``name (1).ext``, ``name (2).ext``, ... is used. So an
  ``OUT/predictions.csv`` already there (yours, or an earlier run's) is kept, and this run
  writes ``OUT/predictions (1).csv``.
- OUT may not be inside (or be) a folder being predicted: later runs would read the copies
  back as new photos.
- Each label becomes one folder directly inside OUT: a label that is not a plain folder name
  (``..``, a path separator, control characters), or a label folder that is a link, is
  refused, so nothing is written outside OUT.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from isit.display import display_path
from isit.errors import IsitError
from isit.metadata import label_problem

PREDICTIONS_NAME = "predictions.csv"
_MAX_TRIES = 10_000


class CopyToError(IsitError):
    """``--copy-to`` cannot be used as given; the message says what to change."""

    code = "copy_to_invalid"


def check_out_dir(out_dir: Path, inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse an OUT that is, or is inside, one of the input folders."""
    out_real = Path(os.path.realpath(out_dir))
    for given in inputs:
        real = Path(os.path.realpath(given))
        if real.is_dir() and (out_real == real or out_real.is_relative_to(real)):
            raise CopyToError(
                f"--copy-to {display_path(out_dir)} is inside the folder being predicted "
                f"({display_path(given)}): the copies would be read back as new photos. "
                "Choose an output folder outside it."
            )


def _candidates(name: str) -> Iterable[str]:
    stem, suffix = os.path.splitext(name)
    yield name
    for n in range(1, _MAX_TRIES):
        yield f"{stem} ({n}){suffix}"


def open_new(folder: Path, name: str, mode: str = "xb", **kwargs) -> tuple[Path, IO]:
    """Create ``folder/name`` (or ``name (n)``) that did not exist: never overwrites."""
    folder.mkdir(parents=True, exist_ok=True)
    for candidate in _candidates(name):
        target = folder / candidate
        try:
            return target, open(target, mode, **kwargs)
        except FileExistsError:
            continue
    raise CopyToError(f"{display_path(folder)} already holds {_MAX_TRIES} files named {name}.")


def open_predictions(out_dir: Path) -> tuple[Path, IO[str]]:
    """A new predictions CSV in ``out_dir`` (``predictions.csv`` unless that exists)."""
    return open_new(out_dir, PREDICTIONS_NAME, "x", newline="", encoding="utf-8")


def label_folder(out_dir: Path, label: str) -> Path:
    """``out_dir/label``, refused when that would not be a real folder directly in OUT."""
    problem = label_problem(label)
    if problem:
        raise CopyToError(
            f"The model's label {display_path(label)!r} cannot be a folder name ({problem})."
        )
    folder = out_dir / label
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise CopyToError(
            f"{display_path(folder)} exists and is not a plain folder; move it away first."
        )
    return folder


def copy_new(source: Path, folder: Path) -> Path:
    """Copy ``source`` into ``folder`` under a name nobody has yet; returns the copy."""
    target, out = open_new(folder, source.name)
    try:
        with out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        shutil.copystat(source, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target
