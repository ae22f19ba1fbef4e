"""``held_out.csv``: each photo of a run, its content hash, label and what became of it.

Written by every ``isit train`` next to metrics.json (:func:`training.pipeline.write`);
read by ``isit compare``. One row per photo the run used (one per group of duplicates):

    path, sha256, label, answer, outcome, best_guess, confidence

``outcome`` is ``right``, ``wrong`` or ``not sure`` for a held-out photo (the answer a
model that never saw it gave), ``trained on`` for the others (answer empty). The rows
together are the run's data fingerprint: which photos, by content, under which label.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from isit.errors import IsitError
from training.atomic import atomic_write
from training.loop.inbox import cell_value, text_cell

HELD_OUT_NAME = "held_out.csv"
COLUMNS = ("path", "sha256", "label", "answer", "outcome", "best_guess", "confidence")
TRAINED_ON = "trained on"
OUTCOMES = ("right", "wrong", "not sure")


class RunPhotosMissing(IsitError):
    code = "held_out_missing"


@dataclass(frozen=True)
class PhotoRow:
    path: str  # relative to the data folder
    sha256: str  # of the file's bytes
    label: str  # its class folder in this run
    answer: str  # what the user was told (a label or "unknown"); "" when trained on
    outcome: str  # right / wrong / not sure / trained on
    best_guess: str = ""
    confidence: float | None = None

    @property
    def held_out(self) -> bool:
        return self.outcome in OUTCOMES

    @property
    def right(self) -> bool:
        return self.outcome == "right"


def held_out_csv(rows: Iterable[PhotoRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        confidence = "" if r.confidence is None else f"{r.confidence:.5f}"
        cells = (r.path, r.sha256, r.label, r.answer, r.outcome, r.best_guess, confidence)
        writer.writerow([text_cell(c) for c in cells])
    return buffer.getvalue()


def write_held_out(path: Path, rows: Iterable[PhotoRow]) -> Path:
    return atomic_write(path, held_out_csv(rows))


def read_held_out(run_dir: Path) -> list[PhotoRow]:
    """The rows of ``run_dir/held_out.csv``, or an error that says how to get one."""
    path = run_dir / HELD_OUT_NAME
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            raw = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise RunPhotosMissing(
            f"{run_dir} has no {HELD_OUT_NAME}: it is not a run folder of `isit train`, or it "
            "was trained before runs recorded each photo's outcome. Train it again, or "
            "compare two models on a labelled folder with --folder DIR."
        ) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RunPhotosMissing(f"{path} cannot be read ({exc}).") from exc
    rows = []
    for item in raw:
        cells = {k: cell_value(item.get(k) or "") for k in COLUMNS}
        confidence = float(cells["confidence"]) if cells["confidence"] else None
        rows.append(PhotoRow(**{**cells, "confidence": confidence}))
    return rows


def data_fingerprint(rows: Iterable[PhotoRow]) -> str:
    """One short hash of which photos (by content) a run used, under which labels."""
    lines = sorted({f"{r.sha256} {r.label}" for r in rows})
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]
