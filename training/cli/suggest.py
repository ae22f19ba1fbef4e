"""``isit suggest MODEL.onnx FOLDER``: which unlabelled photos to label first, and why."""

from __future__ import annotations

import argparse
from pathlib import Path

from training import settings
from training.cli.common import UsageError, free_run_dir, positive_int, release_run_dir, say

DESCRIPTION = f"""\
Rank a folder of unlabelled photos by how much each would teach the model: the ones it
is least sure of (its top two classes close), the ones least like its training photos
(a high unknown score), and not ten near-copies of one photo. Writes suggest.html (the
photos, in order, with why) and suggest.csv (rank, path, best_guess, confidence,
ood_score, why) into --out (default {settings.RUNS_DIR}/{settings.SUGGEST_RUNS}/<FOLDER's
name>/, or -2/, -3/... when that exists). FOLDER is only read, never changed."""
EXAMPLES = """\
  isit suggest runs/data/model.onnx unsorted-photos/
  isit suggest model.onnx inbox/ --top 50 --out to-label/"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.onnx", help="a model trained by isit")
    parser.add_argument("folder", metavar="FOLDER", type=Path, help="photos (read recursively)")
    parser.add_argument(
        "--top",
        metavar="N",
        type=positive_int,
        default=settings.SUGGEST_TOP,
        help=f"how many photos to list (default {settings.SUGGEST_TOP})",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help=f"where to write (default: a new {settings.RUNS_DIR}/{settings.SUGGEST_RUNS}/<name>/)",
    )


def run(args: argparse.Namespace) -> int:
    from isit.bundle import named_model_file
    from isit.errors import IsitError
    from training.loop.suggest_output import suggest
    from training.predict.batch import list_images
    from training.predict.copy_to import check_out_dir

    model = named_model_file(args.model)
    if not args.folder.is_dir():
        raise UsageError(f"{args.folder} is not a folder of photos.")
    if args.out is not None:
        try:  # the page and CSV would be read back as photos next time
            check_out_dir(args.out, [args.folder])
        except IsitError as exc:
            raise UsageError(exc.message.replace("--copy-to", "--out")) from exc
    files, _ = list_images([args.folder])
    if not files:
        raise UsageError(f"{args.folder} has no files to rank.")
    parent = Path(settings.RUNS_DIR) / settings.SUGGEST_RUNS
    out = args.out or free_run_dir(args.folder.resolve().name, parent)
    try:
        result = suggest(model, files, out, top=args.top)
    except BaseException:
        if args.out is None:
            release_run_dir(out)
        raise
    for path, reason in result.unreadable:
        say(args, f"skipped {path}: {reason}")
    for s in result.ranked.suggestions[:5]:
        say(args, f"{s.rank:>3}. {result.shown[s.index]}: {s.why}")
    say(
        args,
        f"{len(result.ranked.suggestions)} of {result.scored} photos listed: {result.page_path}",
    )
    say(args, f"csv: {result.csv_path}")
    return 1 if result.unreadable else 0
