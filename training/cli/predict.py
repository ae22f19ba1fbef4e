"""``isit predict MODEL.onnx PATH...``: one answer per image; exit 1 if any could not be read."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import IO

from training.cli.common import UsageError, add_output_flags, add_progress_flag

DESCRIPTION = """\
Classify images, or every image in folders (recursively), with a model.onnx, through the
same code the web service runs. One line per image:
    photos/a.jpg: elsa (score = 0.99621)
    photos/b.jpg: unknown (very unlike the photos it learnt from; only a guess: elsa)
Files that cannot be read are listed on stderr and skipped (exit status 1)."""
EXAMPLES = """\
  isit predict runs/data/model.onnx photo.jpg
  isit predict model.onnx photos/ --copy-to sorted/   # sorted/<label>/, predictions.csv
  isit predict model.onnx photos/ --json > answers.jsonl"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.onnx", help="a model trained by isit")
    parser.add_argument("paths", metavar="PATH", nargs="+", help="images or folders (recursive)")
    add_output_flags(parser, "one JSON object per image, one per line,")
    parser.add_argument(
        "--copy-to",
        metavar="OUT_DIR",
        type=Path,
        help="copy (never move) each image to OUT_DIR/<label or unknown>/ and write "
        "OUT_DIR/predictions.csv",
    )
    add_progress_flag(parser)


def _show(line: str, file: IO[str]) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=file)  # above a progress bar, if one is showing
    file.flush()


def check_order(model: str, paths: list[str]) -> None:
    """The model comes first: name a swap instead of onnxruntime's "InvalidProtobuf"."""
    if Path(model).suffix.lower() == ".onnx":
        return
    onnx = next((p for p in paths if Path(p).suffix.lower() == ".onnx"), None)
    if onnx is not None:
        rest = " ".join(shlex.quote(p) for p in [model, *paths] if p != onnx)
        raise UsageError(
            f"the model comes first: {onnx} is the model and {model} is not. "
            f"Run: isit predict {shlex.quote(onnx)} {rest}"
        )


def run(args: argparse.Namespace) -> int:
    from isit.bundle import load_bundle, named_model_file
    from isit.errors import IsitError
    from training.predict.answers import CopySorter, format_line, to_json
    from training.predict.batch import list_images, predict_files

    check_order(args.model, args.paths)
    bundle = load_bundle(named_model_file(args.model))
    if args.copy_to is not None:
        from training.predict import copy_to

        try:  # refused before any work: OUT inside a folder being predicted
            copy_to.check_out_dir(args.copy_to, args.paths)
        except IsitError as exc:
            raise UsageError(exc.message) from exc
    files, missing = list_images(args.paths, exclude=args.copy_to)
    if not files and not missing:
        raise UsageError("no files found in the given folders.")
    failed = done = 0
    with contextlib.ExitStack() as stack:
        sorter = stack.enter_context(CopySorter(args.copy_to)) if args.copy_to else None
        json_file = (
            stack.enter_context(open(args.json_out, "w", encoding="utf-8"))
            if (args.json_out)
            else None
        )
        for outcome in [*missing, *predict_files(bundle, files, progress=args.progress)]:
            ok = outcome.prediction is not None
            failed, done = failed + (not ok), done + ok
            if sorter is not None:
                sorter.add(outcome)
            record = json.dumps(to_json(outcome), ensure_ascii=False)
            if json_file is not None:
                json_file.write(record + "\n")
            if args.json:
                _show(record, sys.stdout)
            else:
                _show(format_line(outcome), sys.stdout if ok else sys.stderr)
    if failed:
        total = failed + done
        print(f"{failed} of {total} files could not be read (listed above).", file=sys.stderr)
    if args.copy_to is not None:
        print(f"copied {done} images into {args.copy_to}; see {sorter.csv_path}", file=sys.stderr)
    return 1 if failed else 0
