"""`python -m training predict MODEL.onnx PATH... [--json] [--copy-to OUT_DIR]`.

One line per image, like the classic retrain tool's guess script::

    photos/a.jpg: elsa (score = 0.99621)
    photos/b.jpg: unknown (best guess: elsa, score = 0.51234)

``--json``: one JSON object per line. ``--copy-to``: copies each image into
``OUT_DIR/<label or unknown>/`` (never moving or overwriting anything) and writes
``OUT_DIR/predictions.csv`` (``predictions (1).csv``... when that exists; rules in
:mod:`training.copy_to`). A file that cannot be read is listed and skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from isit.bundle import UNKNOWN_LABEL, ModelBundle
from isit.errors import IsitError
from training import copy_to
from training.batch_predict import Outcome, list_images, predict_files


def format_line(outcome: Outcome) -> str:
    """The text line for one image."""
    p = outcome.prediction
    if p is None:
        return f"{outcome.display}: error: {outcome.error}"
    if p.unknown:
        guess = f"best guess: {p.best_guess}, score = {p.confidence:.5f}"
        return f"{outcome.display}: {UNKNOWN_LABEL} ({guess})"
    return f"{outcome.display}: {p.label} (score = {p.confidence:.5f})"


def to_json(outcome: Outcome) -> dict[str, Any]:
    if outcome.prediction is None:
        return {"path": outcome.display, "error": outcome.error, "code": outcome.error_code}
    return {"path": outcome.display, **outcome.prediction.to_dict()}


def copy_into(outcome: Outcome, out_dir: Path) -> Path | None:
    """Copy (never move, never overwrite) the image into ``out_dir/<label>/``."""
    if outcome.prediction is None:
        return None
    return copy_to.copy_new(outcome.path, copy_to.label_folder(out_dir, outcome.prediction.label))


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


def csv_row(outcome: Outcome, copied: Path | None) -> dict[str, Any]:
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.onnx", help="a model trained by isit")
    parser.add_argument("paths", metavar="PATH", nargs="+", help="images or folders (recursive)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--copy-to",
        metavar="OUT_DIR",
        type=Path,
        help="copy each image to OUT_DIR/<label or unknown>/ and write predictions.csv",
    )


def run(args: argparse.Namespace) -> int:
    try:
        bundle = ModelBundle(args.model)
    except IsitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    out_dir: Path | None = args.copy_to
    try:
        if out_dir is not None:
            copy_to.check_out_dir(out_dir, args.paths)
    except IsitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    files, missing = list_images(args.paths, exclude=out_dir)
    if not files and not missing:
        print("error: no files found in the given folders.", file=sys.stderr)
        return 1
    writer = None
    csv_file = None
    csv_path = None
    if out_dir is not None:
        csv_path, csv_file = copy_to.open_predictions(out_dir)  # never overwrites
        writer = csv.DictWriter(csv_file, fieldnames=CSV_FIELDS)
        writer.writeheader()
    failed = 0
    done = 0
    try:
        for outcome in [*missing, *predict_files(bundle, files)]:
            copied = None
            if outcome.prediction is None:
                failed += 1
            else:
                done += 1
                if out_dir is not None:
                    try:
                        copied = copy_into(outcome, out_dir)
                    except OSError as exc:
                        outcome.error = f"could not copy: {exc.strerror}"
                    except IsitError as exc:
                        outcome.error = f"could not copy: {exc.message}"
            if args.json:
                print(json.dumps(to_json(outcome), ensure_ascii=False), flush=True)
            elif outcome.prediction is None:
                print(format_line(outcome), file=sys.stderr, flush=True)
            else:
                print(format_line(outcome), flush=True)
            if writer is not None:
                writer.writerow(csv_row(outcome, copied))
    finally:
        if csv_file is not None:
            csv_file.close()
    if failed:
        print(
            f"{failed} of {failed + done} files could not be read (listed above).", file=sys.stderr
        )
    if out_dir is not None:
        print(
            f"copied {done} images into {out_dir}; see {csv_path}",
            file=sys.stderr,
        )
    return 0 if done else 1
