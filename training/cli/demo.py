"""``isit demo``: sample photos -> check -> train -> model.onnx, in one folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.cli.common import add_progress_flag, outcome_lines
from training.pipeline.demo_run import DEMO_PER_CLASS

DESCRIPTION = """\
See isit work without photos of your own: generates sample photos (circles, squares,
triangles) in WORKDIR/data, checks and trains on them, and writes WORKDIR/model/model.onnx
and WORKDIR/report.html. WORKDIR/data is regenerated each time; nothing else is touched."""
EXAMPLES = """\
  isit demo                         # into .demo/
  isit demo --workdir /tmp/demo --per-class 60
  isit demo && isit serve --model .demo/model/model.onnx"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", default=".demo", type=Path, help="where to put everything")
    parser.add_argument(
        "--per-class",
        type=int,
        default=DEMO_PER_CLASS,
        help=f"sample photos per class (default {DEMO_PER_CLASS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_progress_flag(parser)
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's log lines")


def run(args: argparse.Namespace) -> int:
    from training import tf_runtime
    from training.pipeline.demo_run import run_demo

    tf_runtime.configure(args.verbose)
    demo = run_demo(args.workdir, per_class=args.per_class, seed=args.seed, progress=args.progress)
    result = demo.train
    print(f"Trained in {result.seconds:.1f} s.", *outcome_lines(result.metrics), sep="\n")
    print(
        f"model:  {result.model_path}\nreport: {demo.report_path}\n"
        f"Next: isit serve --model {result.model_path}"
    )
    return 0
