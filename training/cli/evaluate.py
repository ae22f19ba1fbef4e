"""``isit evaluate MODEL.onnx DATA_DIR``: metrics and report of a model on a labelled folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from training import settings
from training.cli.common import (
    add_force_flag,
    add_output_flags,
    add_progress_flag,
    emit_json,
    free_run_dir,
    outcome_lines,
    release_run_dir,
    say,
)

if TYPE_CHECKING:
    from training.evaluation.folder import EvaluationResult

DESCRIPTION = f"""\
Measure a model.onnx on any labelled folder (one sub-folder per class, e.g. photos you
kept aside), through the same code the web service runs: accuracy, per-class numbers,
unknown rate, and report.html + metrics.json in --out (default
{settings.RUNS_DIR}/{settings.EVALUATE_RUNS}/<DATA_DIR's name>/, or -2/, -3/... when that
exists). Folders named after classes the model does not know are an error."""
EXAMPLES = """\
  isit evaluate runs/data/model.onnx kept-aside/
  isit evaluate model.onnx kept-aside/ --out eval/
  isit evaluate model.onnx kept-aside/ --json | jq .best_guess.accuracy"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.onnx", help="a model trained by isit")
    parser.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder per class")
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help=f"where to write (default: a new {settings.RUNS_DIR}/{settings.EVALUATE_RUNS}/"
        "<name>/)",
    )
    add_force_flag(parser, "metrics.json and report.html")
    add_output_flags(parser, "the metrics (metrics.json)")
    add_progress_flag(parser)


def summary(result: EvaluationResult) -> list[str]:
    folder = result.metrics.folder
    set_aside = folder.set_aside if folder else 0
    return [
        *outcome_lines(result.metrics),
        *([f"{set_aside} photos set aside: the model learnt from them"] if set_aside else []),
        f"metrics: {result.metrics_path}",
        f"report:  {result.report_path}",
    ]


def run(args: argparse.Namespace) -> int:
    from isit.bundle import named_model_file
    from training.evaluation.folder import evaluate

    named_model_file(args.model)  # a missing or foreign file fails before any folder is made
    parent = Path(settings.RUNS_DIR) / settings.EVALUATE_RUNS
    out = args.out or free_run_dir(Path(args.data_dir).resolve().name, parent)
    try:
        result = evaluate(
            args.model, args.data_dir, out, progress=args.progress, force=args.force
        )
    except BaseException:
        if args.out is None:
            release_run_dir(out)
        raise
    emit_json(result.metrics.to_dict(), args)
    say(args, "\n".join(summary(result)))
    skipped = result.metrics.folder.skipped if result.metrics.folder else 0
    return 1 if skipped else 0  # some photos could not be read: listed in the warnings
