"""Run a model.onnx over many image files: batched, and a bad file never stops the rest.

Shared by `predict` and `evaluate`. Predictions come from :class:`isit.bundle.ModelBundle`,
the same code the Function runs, so the CLI's answers (and its "unknown") are the
Function's answers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from isit.bundle import ModelBundle, Prediction
from isit.errors import IsitError
from isit.imaging import preprocess, read_image_bytes
from training import settings

if TYPE_CHECKING:
    from tqdm import tqdm

BATCH_SIZE = settings.BACKBONE_BATCH
QUIET_BELOW = 32  # photos: fewer finish before a bar would say anything
# Files nobody means as photos; skipped silently when walking folders.
_SKIP_NAMES = {"Thumbs.db", "desktop.ini", "predictions.csv", "metrics.json", "report.html"}


@dataclass
class Outcome:
    """One file's result: a prediction, or why there is none."""

    path: Path
    display: str  # the path as the user would write it
    prediction: Prediction | None = None
    probabilities: np.ndarray | None = None  # in model label order
    error: str | None = None
    error_code: str | None = None


def _hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name in _SKIP_NAMES


def list_images(
    paths: Iterable[str | os.PathLike[str]], *, exclude: Path | None = None
) -> tuple[list[tuple[Path, str]], list[Outcome]]:
    """Files under ``paths`` (folders recursively, sorted) and outcomes for missing paths.

    ``exclude``: a folder never to read from (e.g. the --copy-to output inside the input).
    """
    files: list[tuple[Path, str]] = []
    missing: list[Outcome] = []
    seen: set[Path] = set()
    excluded = exclude.resolve() if exclude is not None else None

    def add(path: Path, display: str) -> None:
        resolved = path.resolve()
        if resolved in seen:
            return
        if excluded is not None and resolved.is_relative_to(excluded):
            return
        seen.add(resolved)
        files.append((path, display))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for current, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    child = Path(current) / name
                    if not _hidden(child):
                        add(child, str(child))
        elif path.is_file():
            add(path, str(raw))
        else:
            missing.append(
                Outcome(path, str(raw), error="no such file or folder", error_code="not_found")
            )
    return files, missing


def _load(bundle: ModelBundle, path: Path, display: str) -> tuple[np.ndarray | None, Outcome]:
    outcome = Outcome(path, display)
    try:
        return preprocess(read_image_bytes(path), bundle.metadata.preprocess), outcome
    except IsitError as exc:
        outcome.error, outcome.error_code = exc.message, exc.code
    except OSError as exc:  # permissions, a file that vanished, ...
        outcome.error, outcome.error_code = f"cannot read the file ({exc.strerror})", "unreadable"
    return None, outcome


def _bar(total: int, progress: bool | None) -> tqdm:
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    # Short runs stay silent: a bar that flashes for a few photos is noise.
    return tqdm(
        total=total,
        unit="img",
        desc="predicting",
        file=sys.stderr,
        disable=not show or (progress is None and total < QUIET_BELOW),
        leave=False,
        dynamic_ncols=True,
    )


def predict_files(
    bundle: ModelBundle,
    files: list[tuple[Path, str]],
    batch_size: int = BATCH_SIZE,
    *,
    progress: bool | None = None,
) -> Iterator[Outcome]:
    """Outcomes in input order; unreadable files carry ``error`` instead of a prediction.

    ``progress``: a bar on stderr (None: only on a terminal).
    """
    with _bar(len(files), progress) as bar:
        for start in range(0, len(files), batch_size):
            loaded = [
                _load(bundle, path, display) for path, display in files[start : start + batch_size]
            ]
            good = [(array, outcome) for array, outcome in loaded if array is not None]
            if good:
                probabilities, scores = bundle.run(np.stack([array for array, _ in good]))
                for (_, outcome), p, s in zip(good, probabilities, scores, strict=True):
                    outcome.prediction = bundle.interpret(p, float(s))
                    outcome.probabilities = p
            bar.update(len(loaded))
            yield from (outcome for _, outcome in loaded)
