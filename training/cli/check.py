"""``isit check DATA_DIR``: the dataset doctor's summary; exit 1 when training cannot start."""

from __future__ import annotations

import argparse
from pathlib import Path

from isit.display import display_path
from isit.errors import IsitError
from training.cli.common import (
    UsageError,
    add_output_flags,
    add_progress_flag,
    say,
)

DESCRIPTION = """\
Check a folder of photos before training: files that are not images, truncated or tiny
photos, duplicates and near-copies (also across classes), class sizes, and the stable
train/val/test split. Never changes anything in DATA_DIR."""
EXAMPLES = """\
  isit check data/
  isit check data/ --json | jq .classes        # the report on stdout, for scripts
  isit check data/ --model runs/data/model.onnx  # also: which photos look misfiled"""


def _defaults() -> dict[str, object]:
    """check_dataset's own defaults, so the command and the library cannot disagree."""
    import inspect

    from training.data.doctor import check_dataset

    return {
        name: p.default
        for name, p in inspect.signature(check_dataset).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = _defaults()
    min_per_class, min_side = defaults["min_per_class"], defaults["min_side"]
    hamming, correlation = defaults["hamming_threshold"], defaults["min_correlation"]
    split = "/".join(f"{round(100 * part)}" for part in defaults["split"])

    parser.add_argument(
        "data_dir",
        metavar="DATA_DIR",
        nargs="?",
        help="folder with one sub-folder of photos per class "
        "(or train/, val/, test/ folders holding them); optional with --features",
    )
    parser.add_argument(
        "--features",
        metavar="FEATURES_DIR",
        help="use the rows of `isit features` instead of decoding the photos again",
    )
    add_output_flags(parser, "the full report")
    parser.add_argument(
        "--model",
        metavar="MODEL.onnx",
        type=Path,
        help="also list photos that are probably in the wrong folder, using this model's "
        "backbone (nothing is moved)",
    )
    parser.add_argument(
        "--min-per-class",
        type=int,
        default=min_per_class,
        metavar="N",
        help=f"fewest distinct usable photos a class needs (default {min_per_class})",
    )
    parser.add_argument(
        "--split",
        default=split,
        metavar="TRAIN/VAL/TEST",
        help=f"split percentages (default {split})",
    )
    parser.add_argument(
        "--min-side",
        type=int,
        default=min_side,
        metavar="PX",
        help=f"smaller photos are reported as too small (default {min_side})",
    )
    parser.add_argument(
        "--hamming",
        type=int,
        default=hamming,
        metavar="BITS",
        help=f"perceptual-hash distance for near-duplicate candidates (default {hamming} of 64)",
    )
    parser.add_argument(
        "--min-correlation",
        type=float,
        default=correlation,
        help=f"thumbnail correlation confirming a near-duplicate (default {correlation})",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="processes decoding images (default: up to 4)"
    )
    add_progress_flag(parser)
    parser.add_argument(
        "--list",
        type=int,
        default=10,
        metavar="N",
        help="how many problems/duplicates to list (default 10)",
    )


def _label_issues(report: object, args: argparse.Namespace) -> list:
    from isit.bundle import named_model_file
    from training.evaluation.label_review import wrong_folder_headline
    from training.pipeline.review import review_folder

    issues = review_folder(report, named_model_file(args.model), progress=args.progress)
    say(args, "\n" + wrong_folder_headline(len(issues)) + (":" if issues else "."))
    for issue in issues[: max(0, args.list)]:
        say(
            args,
            f"  {issue.name}: in {issue.given}/, looks like {issue.looks_like} "
            f"({issue.probability:.0%})",
        )
    if len(issues) > args.list:
        say(args, f"  ... and {len(issues) - args.list} more (--list N, or --json)")
    return issues


class MissingFolder(IsitError):
    """DATA_DIR is not there: exit status 1, like any other fatal finding."""

    code = "no_such_folder"


def _missing_folder(args: argparse.Namespace) -> str | None:
    """The message for a DATA_DIR that does not exist (a URI or --features: not ours to say)."""
    data_dir = str(args.data_dir or "")
    if args.features or not data_dir or "://" in data_dir or Path(data_dir).exists():
        return None
    return (
        f"{data_dir} does not exist. Give the folder that holds one sub-folder of photos "
        "per class."
    )


def run(args: argparse.Namespace) -> int:
    from training.cli.common import emit_json
    from training.data.doctor import check_dataset, format_summary
    from training.data.doctor.split import parse_split

    missing = _missing_folder(args)
    if missing:  # said alone: a summary of "0 readable images" first only confused
        raise MissingFolder(missing)
    try:
        report = check_dataset(
            args.data_dir,
            min_per_class=args.min_per_class,
            split=parse_split(args.split),
            progress=args.progress,
            workers=args.workers,
            min_side=args.min_side,
            hamming_threshold=args.hamming,
            min_correlation=args.min_correlation,
            features=args.features,
        )
    except ValueError as exc:  # settings out of range: the check's own words
        raise UsageError(str(exc)) from exc
    say(args, format_summary(report, limit=max(0, args.list)))
    result = report.to_json()
    if args.model is not None and report.ok:
        issues = _label_issues(report, args)
        result["label_issues"] = [issue.to_dict() for issue in issues]
    emit_json(result, args)
    if args.json_out:
        say(args, f"Report written to {display_path(args.json_out)}")
    return 0 if report.ok else 1
