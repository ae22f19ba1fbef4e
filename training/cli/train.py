"""``isit train DATA_DIR [--out DIR]``: check, features, head, held-out evaluation, export."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from training import settings
from training.cli.common import (
    UsageError,
    add_force_flag,
    add_output_flags,
    add_progress_flag,
    emit_json,
    free_run_dir,
    outcome_lines,
    release_run_dir,
    say,
)
from training.cli.next_steps import next_lines

if TYPE_CHECKING:
    from training.pipeline import TrainResult

DESCRIPTION = f"""\
Train an image classifier on DATA_DIR (one sub-folder of photos per class): the same
check as `isit check` first, then cached features of a frozen pretrained backbone, a
small head, an "unknown" threshold, numbers measured on held-out photos only, and one
model.onnx with metrics.json and report.html in --out (default {settings.RUNS_DIR}/<DATA_DIR's
name>/, or <name>-2/, -3/... when that exists)."""
EXAMPLES = """\
  isit train data/                              # -> runs/data/model.onnx, report.html
  isit train data/ --out model/ --augment 2     # 2 augmented views of each photo
  isit train data/ --backbone mobilenet_v2 --json > metrics.json"""


def backbone_help() -> str:
    """The offline backbones, from the registry, the default marked (from settings)."""
    from training.backbones.registry import KERAS_PREFIX, backbone_names

    offline = [name for name in backbone_names() if not name.startswith(KERAS_PREFIX)]
    shown = [f"{n} (default)" if n == settings.DEFAULT_BACKBONE else n for n in offline]
    return f"{', '.join(shown)} or {KERAS_PREFIX}<name>; `isit backbones list` shows them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder per class")
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help=f"where to write the model (default: a new {settings.RUNS_DIR}/<name>/)",
    )
    add_force_flag(parser, "model.onnx, metrics.json and report.html")
    parser.add_argument(
        "--features",
        metavar="FEATURES_DIR",
        help="reuse the hashes and features of `isit features DATA_DIR` (no decoding again)",
    )
    parser.add_argument(
        "--backbone",
        default=settings.DEFAULT_BACKBONE,
        help=backbone_help(),
    )
    parser.add_argument(
        "--seed", type=int, default=settings.SEED, help=f"random seed (default {settings.SEED})"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=settings.EPOCHS,
        help=f"maximum epochs of a --hidden head (default {settings.EPOCHS}; it stops early); "
        "the default linear head is solved exactly and ignores it",
    )
    parser.add_argument(
        "--augment",
        type=int,
        default=settings.AUGMENT,
        metavar="K",
        help=f"K cached augmented views per photo (default {settings.AUGMENT})",
    )
    parser.add_argument(
        "--hidden",
        type=int,
        default=settings.HIDDEN,
        metavar="UNITS",
        help="add a hidden layer of UNITS (default: none, a linear head)",
    )
    add_fine_tune_flags(parser)
    parser.add_argument(
        "--name", help="the model's name, shown by the API (default: the folder's name)"
    )
    parser.add_argument(
        "--title",
        help='the question the web page asks, e.g. "Is it Mila?" (default: "A or B?" '
        "from the class names)",
    )
    parser.add_argument(
        "--unknown-acceptance",
        type=float,
        default=settings.UNKNOWN_ACCEPTANCE,
        metavar="SHARE",
        help="the unknown threshold accepts this share of your photos held out by look-alike "
        f"cluster (default {settings.UNKNOWN_ACCEPTANCE}; higher refuses fewer of your "
        "photos and more unrelated ones get in: the report shows the trade-off)",
    )
    parser.add_argument(
        "--include-conflicts",
        action="store_true",
        help="also train on images that appear in more than one class folder",
    )
    add_output_flags(parser, "the metrics (metrics.json)")
    add_progress_flag(parser)
    parser.add_argument(
        "--verbose", action="store_true", help="also show TensorFlow's own log lines"
    )


def add_fine_tune_flags(parser: argparse.ArgumentParser) -> None:
    """--fine-tune, --fine-tune-stages and --flips (issue 28; README "Hard folders")."""
    parser.add_argument(
        "--fine-tune",
        action=argparse.BooleanOptionalAction,
        default=settings.FINE_TUNE,
        help="also train the backbone's last stage on your photos (about 80 s more for 500 "
        "photos; measured on hard folders it did not beat the frozen backbone: README "
        '"Hard folders")',
    )
    parser.add_argument(
        "--fine-tune-stages",
        type=int,
        choices=(1, 2),
        default=settings.FINE_TUNE_STAGES,
        help=f"how many of the last stages --fine-tune trains (default "
        f"{settings.FINE_TUNE_STAGES}; 2 is several times slower)",
    )
    parser.add_argument(
        "--flips",
        action=argparse.BooleanOptionalAction,
        default=settings.FLIPS,
        help="average every answer over the photo and its mirror image (twice the "
        "backbone's time per photo when serving)",
    )


def config_from(args: argparse.Namespace) -> settings.TrainConfig:
    """The validated configuration; its complaints name the command-line options."""
    try:
        return settings.TrainConfig(
            backbone=args.backbone,
            epochs=args.epochs,
            seed=args.seed,
            augment=args.augment,
            hidden=args.hidden,
            include_conflicts=args.include_conflicts,
            name=args.name,
            title=args.title,
            fine_tune=args.fine_tune,
            fine_tune_stages=args.fine_tune_stages,
            flips=args.flips,
            unknown_acceptance=args.unknown_acceptance,
        )
    except settings.ConfigError as exc:
        fields = "epochs|augment|hidden|seed|backbone|name|title|unknown_acceptance"
        message = re.sub(rf"\b({fields}) must", r"--\1 must", exc.message)
        raise UsageError(message.replace("unknown_acceptance", "unknown-acceptance")) from exc


def summary(result: TrainResult) -> list[str]:
    """What a person reads at the end, with what to do next."""
    run = result.metrics.run
    cache = f"features: {run.cache_hits} cached, {run.cache_computed} computed" if run else ""
    return [
        *outcome_lines(result.metrics),
        f"model:   {result.model_path}",
        f"metrics: {result.metrics_path}",
        f"report:  {result.report_path}",
        f"({result.seconds:.1f} s; {cache})",
        "",
        *next_lines(result.report_path, result.model_path),
    ]


def run(args: argparse.Namespace) -> int:
    from training import tf_runtime
    from training.pipeline import train

    tf_runtime.configure(args.verbose)
    config = config_from(args)
    out = args.out or free_run_dir(Path(args.data_dir).resolve().name)
    try:
        result = train(
            args.data_dir,
            out,
            config,
            progress=args.progress,
            features_dir=args.features,
            force=args.force,
        )
    except BaseException:
        if args.out is None:
            release_run_dir(out)
        raise
    emit_json(result.metrics.to_dict(), args)
    say(args, "\n".join(summary(result)))
    return 0
