"""How `isit predict` shows and files its answers: text lines, JSON, copies, a CSV.

One line per image, like the classic retrain tool's guess script::

    photos/a.jpg: elsa (score = 0.99621)
    photos/b.jpg: unknown (very unlike the photos it learnt from; only a guess: elsa)

:class:`CopySorter` copies each image into ``OUT_DIR/<label or unknown>/`` (never moving
or overwriting anything) and writes ``OUT_DIR/predictions.csv``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from isit.bundle import UNKNOWN_LABEL, unlike_sentence
from training.json_types import JsonObject
from training.predict import copy_to
from training.predict.batch import Outcome

CSV_FIELDS = (
    "path",
    "label",
    "best_guess",
    "confidence",
    "unknown",
    "ood_score",
    "copied_to",
    "error",
)


def format_line(outcome: Outcome) -> str:
    """The text line for one image."""
    p = outcome.prediction
    if p is None:
        return f"{outcome.display}: error: {outcome.error}"
    if p.unknown:  # no score: for a photo unlike the training photos it means nothing
        return f"{outcome.display}: {UNKNOWN_LABEL} ({unlike_sentence(p.unlike, p.best_guess)})"
    return f"{outcome.display}: {p.label} (score = {p.confidence:.5f})"


def to_json(outcome: Outcome) -> JsonObject:
    if outcome.prediction is None:
        return {"path": outcome.display, "error": outcome.error, "code": outcome.error_code}
    return {"path": outcome.display, **outcome.prediction.to_dict()}


def copy_into(outcome: Outcome, out_dir: Path) -> Path | None:
    """Copy (never move, never overwrite) the image into ``out_dir/<label>/``."""
    if outcome.prediction is None:
        return None
    return copy_to.copy_new(outcome.path, copy_to.label_folder(out_dir, outcome.prediction.label))


def csv_row(outcome: Outcome, copied: Path | None) -> dict[str, str | float | bool | None]:
    p = outcome.prediction
    return {
        "path": outcome.display,
        "label": p.label if p else "",
        "best_guess": p.best_guess if p else "",
        "confidence": f"{p.confidence:.6f}" if p else "",
        "unknown": str(p.unknown).lower() if p else "",
        "ood_score": f"{p.ood_score:.6f}" if p else "",
        "copied_to": str(copied) if copied else "",
        "error": outcome.error or "",
    }


class CopySorter:
    """Copies predicted images into ``out_dir/<label>/`` and lists them in predictions.csv."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        # predictions.csv, or "predictions (1).csv"... when a file is there: never overwritten.
        self.csv_path, self._file = copy_to.open_predictions(out_dir)
        self._writer = csv.DictWriter(self._file, fieldnames=CSV_FIELDS)
        self._writer.writeheader()

    def add(self, outcome: Outcome) -> None:
        """Copy one image (a failed copy becomes the outcome's error) and write its row."""
        copied = None
        if outcome.prediction is not None:
            try:
                copied = copy_into(outcome, self.out_dir)
            except OSError as exc:
                outcome.error = f"could not copy: {exc.strerror}"
        self._writer.writerow(csv_row(outcome, copied))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CopySorter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
