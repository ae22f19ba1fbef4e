"""`python -m training train DATA_DIR --out OUT_DIR`: the command line of training.

The work is :func:`training.api.train` (stages in :mod:`training.pipeline`).
"""

from __future__ import annotations

import argparse
import sys

from isit.errors import IsitError
from training.pipeline.data import DatasetError
from training.settings import AUGMENT, DEFAULT_BACKBONE, EPOCHS, HIDDEN, SEED, TrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder per class")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="where to write the model")
    parser.add_argument(
        "--backbone",
        default=DEFAULT_BACKBONE,
        help="mobilenet_v2 (default), efficientnet_lite0 or keras:<name>",
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument(
        "--epochs", type=int, default=EPOCHS, help=f"maximum epochs (default {EPOCHS})"
    )
    parser.add_argument(
        "--augment",
        type=int,
        default=AUGMENT,
        metavar="K",
        help="K cached augmented views per photo",
    )
    parser.add_argument(
        "--hidden", type=int, default=HIDDEN, metavar="UNITS", help="add a hidden layer of UNITS"
    )
    parser.add_argument(
        "--name", help="the model's name, shown by the API (default: the folder's name)"
    )
    parser.add_argument(
        "--include-conflicts",
        action="store_true",
        help="also train on images that appear in more than one class folder",
    )


def run(args: argparse.Namespace) -> int:
    if args.epochs < 1:
        print("error: --epochs must be at least 1", file=sys.stderr)
        return 2
    if args.augment < 0:
        print("error: --augment must be 0 or more", file=sys.stderr)
        return 2
    try:
        from training.api import train

        result = train(
            args.data_dir,
            args.out,
            TrainConfig(
                backbone=args.backbone,
                epochs=args.epochs,
                seed=args.seed,
                augment=args.augment,
                hidden=args.hidden,
                include_conflicts=args.include_conflicts,
                name=args.name,
            ),
        )
    except DatasetError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    except IsitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    test = result.metrics["test"]
    unknown = result.metrics["unknown"]
    print(
        f"accuracy {test['accuracy']:.3f} on {test['n']} held-out photos "
        f"({result.metrics['evaluation']}); unknown threshold {unknown['threshold']:.4f}: "
        f"{unknown['in_distribution_accepted']:.1%} of held-out photos accepted, "
        f"{unknown['probe_rejected']:.1%} of {unknown['probe_n']} unrelated photos rejected"
    )
    print(f"model:   {result.model_path}")
    print(f"metrics: {result.metrics_path}")
    print(f"report:  {result.report_path}")
    print(
        f"({result.seconds:.1f} s; features: {result.cache_hits} cached, "
        f"{result.cache_computed} computed)"
    )
    return 0
