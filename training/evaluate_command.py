"""`python -m training evaluate MODEL.onnx DATA_DIR [--out DIR]`: the command line of
:func:`training.evaluate_folder.evaluate`."""

from __future__ import annotations

import argparse
import sys

from isit.errors import IsitError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.onnx", help="a model trained by isit")
    parser.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder per class")
    parser.add_argument(
        "--out", default="evaluation", metavar="DIR", help="where to write (default ./evaluation)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        from training.api import evaluate

        result = evaluate(args.model, args.data_dir, args.out)
    except IsitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    test = result.metrics["test"]
    unknown = result.metrics["unknown"]
    print(
        f"accuracy {test['accuracy']:.3f} on {test['n']} photos; "
        f"{unknown['in_distribution_accepted']:.1%} accepted, "
        f"{unknown['probe_rejected']:.1%} of {unknown['probe_n']} unrelated photos rejected"
    )
    print(f"metrics: {result.metrics_path}")
    print(f"report:  {result.report_path}")
    return 0
