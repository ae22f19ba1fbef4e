"""``isit features DATA_DIR --out FEATURES_DIR``: decode every photo once, write the table."""

from __future__ import annotations

import argparse

from training.cli.common import UsageError

DESCRIPTION = """\
Decode every photo of DATA_DIR once and write a table (Parquet, one row per file: path,
class, hashes, problem, backbone features) to a NEW folder FEATURES_DIR. Then
`isit check --features FEATURES_DIR` skips decoding, and `isit train DATA_DIR --features
FEATURES_DIR` reuses the features. --engine spark runs the same on Apache Spark
(--master local[2], spark://..., or 'cluster' under spark-submit); DATA_DIR may then be a
URI (abfss://..., wasbs://...)."""
EXAMPLES = """  isit features data/ --out features/                                # this machine
  isit features data/ --out features/ --engine spark --master local[2]
  isit check --features features/                                    # no decoding again"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from training.data.doctor.examine import MIN_IMAGE_SIDE
    from training.data.features_table import DEFAULT_MASTER, ENGINES

    parser.add_argument("data_dir", metavar="DATA_DIR", help="folder (or URI) of class folders")
    parser.add_argument(
        "--out", required=True, metavar="FEATURES_DIR", help="new folder for the table"
    )
    parser.add_argument(
        "--engine", choices=ENGINES, default="local", help="local (default) or spark"
    )
    parser.add_argument(
        "--master",
        default=DEFAULT_MASTER,
        help=f"Spark master (default {DEFAULT_MASTER}; 'cluster': the one spark-submit set)",
    )
    parser.add_argument(
        "--backbone",
        default=None,
        metavar="NAME|FILE.onnx",
        help="backbone name (default: the default backbone) or a backbone ONNX file",
    )
    parser.add_argument(
        "--min-side",
        type=int,
        default=MIN_IMAGE_SIDE,
        metavar="PX",
        help=f"smaller photos are reported as too small (default {MIN_IMAGE_SIDE})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local engine: decoding processes (default: up to 4)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="local engine: progress bars (default: only on a terminal)",
    )


def run(args: argparse.Namespace) -> int:
    from training.data.features_table import write_features

    try:
        manifest = write_features(
            args.data_dir,
            args.out,
            engine=args.engine,
            master=None if args.master == "cluster" else args.master,
            backbone=args.backbone,
            min_side=args.min_side,
            workers=args.workers,
            progress=args.progress,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in manifest.seconds.items())
    print(f"Wrote {manifest.rows} rows ({manifest.engine}) to {args.out} ({timings})")
    return 0
