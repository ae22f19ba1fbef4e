"""`python -m training check DATA_DIR`: print the doctor's summary, optionally write JSON.

Exit status: 0 ready to train, 1 something fatal (each message says what to do),
2 invalid options.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from isit.display import display_path
from training.atomic import atomic_write
from training.doctor.check import MIN_IMAGE_SIDE, check_dataset
from training.doctor.duplicates import HAMMING_THRESHOLD, MIN_CORRELATION
from training.doctor.report import format_summary
from training.doctor.split import parse_split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data_dir",
        metavar="DATA_DIR",
        help="folder with one sub-folder of photos per class "
        "(or train/, val/, test/ folders holding them)",
    )
    parser.add_argument(
        "--json", metavar="REPORT.json", type=Path, help="also write the full report as JSON"
    )
    parser.add_argument(
        "--min-per-class",
        type=int,
        default=5,
        metavar="N",
        help="fewest distinct usable photos a class needs (default 5)",
    )
    parser.add_argument(
        "--split",
        default="80/10/10",
        metavar="TRAIN/VAL/TEST",
        help="split percentages (default 80/10/10)",
    )
    parser.add_argument(
        "--min-side",
        type=int,
        default=MIN_IMAGE_SIDE,
        metavar="PX",
        help=f"smaller photos are reported as too small (default {MIN_IMAGE_SIDE})",
    )
    parser.add_argument(
        "--hamming",
        type=int,
        default=HAMMING_THRESHOLD,
        metavar="BITS",
        help="perceptual-hash distance for near-duplicate candidates "
        f"(default {HAMMING_THRESHOLD} of 64)",
    )
    parser.add_argument(
        "--min-correlation",
        type=float,
        default=MIN_CORRELATION,
        help=f"thumbnail correlation confirming a near-duplicate (default {MIN_CORRELATION})",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="processes decoding images (default: up to 4)"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: only on a terminal)",
    )
    parser.add_argument(
        "--list",
        type=int,
        default=10,
        metavar="N",
        help="how many problems/duplicates to list (default 10)",
    )


def write_json(data: dict, path: Path) -> None:
    """Write atomically, so a reader never sees half a report (and no temporary file is
    left behind: the text is made before anything is written)."""
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def run(args: argparse.Namespace) -> int:
    try:
        split = parse_split(args.split)
        report = check_dataset(
            args.data_dir,
            min_per_class=args.min_per_class,
            split=split,
            progress=args.progress,
            workers=args.workers,
            min_side=args.min_side,
            hamming_threshold=args.hamming,
            min_correlation=args.min_correlation,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(report, limit=max(0, args.list)))
    if args.json:
        write_json(report.to_json(), args.json)
        print(f"Report written to {display_path(args.json)}")
    return 0 if report.ok else 1
