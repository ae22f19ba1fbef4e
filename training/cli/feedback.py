"""``isit feedback pull|review``: flagged photos into an inbox, then a page to judge them."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.cli.common import UsageError, add_progress_flag, say

DESCRIPTION = """\
The owner's side of "Was this right?" on the page (README: Feedback).

  pull SOURCE --out INBOX   downloads the photos visitors flagged that are not in INBOX yet
                            into INBOX/<claimed label>/ (INBOX/none/ for "none of these"),
                            each checked against its record's SHA-256, listed in
                            INBOX/manifest.csv. Nothing is overwritten; a second pull adds
                            only what is new. SOURCE: a connection string (Azurite's), an
                            account URL https://<account>.blob.core.windows.net (signed in
                            with DefaultAzureCredential, e.g. after `az login`), or a
                            feedback folder (isit serve --feedback-dir DIR).
  review INBOX --model M    writes INBOX/review.html: each photo, the model's answer now,
                            the visitor's label, and (with --data) the nearest training
                            photos of both classes. Nothing is moved: move the photos you
                            agree with into your data folder yourself, then train again."""
EXAMPLES = """\
  isit feedback pull "$AZURITE_CONNECTION_STRING" --out inbox/
  isit feedback pull feedback/ --out inbox/          # isit serve --feedback-dir feedback/
  isit feedback review inbox/ --model runs/data/model.onnx --data data/"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    pull = sub.add_parser("pull", help="download new flagged photos into INBOX/<label>/")
    pull.add_argument("source", metavar="SOURCE", help="connection string, account URL or folder")
    pull.add_argument("--out", metavar="INBOX", type=Path, required=True, help="the inbox folder")
    pull.add_argument(
        "--container",
        metavar="NAME",
        help="the Blob container (default: $FEEDBACK_CONTAINER, else feedback)",
    )
    review = sub.add_parser("review", help="a page of the inbox's photos, to judge them")
    review.add_argument("inbox", metavar="INBOX", type=Path, help="a folder `pull` filled")
    review.add_argument("--model", metavar="MODEL.onnx", required=True, help="the model now")
    review.add_argument(
        "--data", metavar="DATA_DIR", type=Path, help="the training photos (nearest neighbours)"
    )
    review.add_argument(
        "--out", metavar="FILE", type=Path, help="the page (default: INBOX/review.html)"
    )
    add_progress_flag(review)


def _pull(args: argparse.Namespace) -> int:
    import os

    from training.loop.feedback_sources import open_source
    from training.loop.inbox import MANIFEST_NAME
    from training.loop.pull import pull

    container = args.container or os.environ.get("FEEDBACK_CONTAINER") or None
    source = open_source(args.source, container)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"{args.out} is a file; --out needs a folder.")
    result = pull(source, args.out, progress=lambda line: say(args, f"  {line}"))
    for problem in result.problems:
        say(args, f"skipped: {problem}")
    before = f" ({result.already} pulled before)" if result.already else ""
    n = len(result.added)
    say(args, f"{n} new photo{'' if n == 1 else 's'} from {source.description}{before}.")
    if result.added:
        say(args, f"Listed in {args.out / MANIFEST_NAME}.")
        say(args, f"Next: isit feedback review {args.out} --model MODEL.onnx --data DATA_DIR")
    return 1 if result.problems else 0


def _review(args: argparse.Namespace) -> int:
    from isit.bundle import named_model_file
    from training.loop.review_page import write_review

    model = named_model_file(args.model)
    if not args.inbox.is_dir():
        raise UsageError(f"{args.inbox} is not a folder; pull into it first.")
    if args.data is not None and not args.data.is_dir():
        raise UsageError(f"{args.data} is not a folder of training photos.")
    out = args.out or args.inbox / "review.html"
    page = write_review(args.inbox, model, out, data_dir=args.data, progress=args.progress)
    say(args, f"{page.photos} photos on {page.path}")
    for problem in page.problems:
        say(args, f"skipped: {problem}")
    say(args, "Move the photos you agree with into your data folder, then train again.")
    return 1 if page.problems else 0


def run(args: argparse.Namespace) -> int:
    return _pull(args) if args.action == "pull" else _review(args)
