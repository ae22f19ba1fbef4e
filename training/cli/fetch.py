"""``isit fetch flickr --user NAME --tags TAG --out DATA_DIR``: photos as class folders."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from training.cli.common import positive_int
from training.data.fetch.flickr import API_BASE, MAX_PER_PAGE
from training.data.fetch.http import RetryPolicy

DESCRIPTION = """\
Download training photos into one folder per class. Sources: flickr (a Flickr user's
public photos, one class folder per tag; needs FLICKR_API_KEY). Running the same command
again continues where it stopped; exit status 1 when some downloads failed."""
EXAMPLES = """\
  export FLICKR_API_KEY=...   # free: https://www.flickr.com/services/api/misc.api_keys.html
  isit fetch flickr --user YOUR_NAME --tags mila --out data --negatives
  isit fetch flickr --user 12345678@N00 --tags elsa,darth_vader --out data --limit 200"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    flickr = sources.add_parser(
        "flickr",
        help="a Flickr user's photos: one class folder per tag",
        epilog=f"examples:\n{EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Download a Flickr user's public photos with the given tags into one folder per "
            "tag (DATA_DIR/<tag>/), with --negatives also their photos with none of the tags "
            "(DATA_DIR/not_<tag>/, or DATA_DIR/other/ for several tags). Needs a Flickr API "
            "key in the FLICKR_API_KEY environment variable. Running it again continues "
            "where it stopped."
        ),
    )
    flickr.add_argument(
        "--user",
        required=True,
        metavar="NAME_OR_NSID",
        help="screen name, user id (like 12345678@N00) or profile URL",
    )
    flickr.add_argument(
        "--tags",
        required=True,
        metavar="TAG[,TAG...]",
        help="comma-separated tags; each becomes a class folder",
    )
    flickr.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DATA_DIR",
        help="folder to download into (created if missing)",
    )
    flickr.add_argument(
        "--limit", type=positive_int, metavar="N", help="at most N photos per tag (default: all)"
    )
    flickr.add_argument(
        "--negatives", action="store_true", help="also fetch photos carrying none of the tags"
    )
    flickr.add_argument(
        "--negatives-limit",
        type=positive_int,
        metavar="N",
        help="how many negatives (default: as many as the largest tag folder)",
    )
    flickr.add_argument(
        "--size",
        choices=["m", "z", "b"],
        default="z",
        help="longest side: m 240 px, z 640 px (default), b 1024 px; a "
        "smaller size is used when a photo lacks the one asked for",
    )
    flickr.add_argument(
        "--workers",
        type=positive_int,
        default=4,
        metavar="N",
        help="parallel downloads (default 4)",
    )
    flickr.add_argument(
        "--no-check", action="store_true", help="do not run the dataset check at the end"
    )
    # For tests and mirrors: a server that speaks the Flickr REST API, and retry timing.
    flickr.add_argument("--api-base", default=API_BASE, help=argparse.SUPPRESS)
    flickr.add_argument("--per-page", type=int, default=MAX_PER_PAGE, help=argparse.SUPPRESS)
    flickr.add_argument(
        "--backoff", type=float, default=RetryPolicy.backoff_base, help=argparse.SUPPRESS
    )
    flickr.add_argument(
        "--attempts", type=int, default=RetryPolicy.attempts, help=argparse.SUPPRESS
    )


def run(args: argparse.Namespace) -> int:
    from training.data.fetch.fetcher import FetchOptions, FlickrFetcher
    from training.data.fetch.flickr import SIZE_PIXELS
    from training.data.fetch.summary import dataset_check_summary, format_report

    options = FetchOptions(
        user=args.user,
        tags=tuple(args.tags.split(",")),
        out=args.out,
        limit=args.limit,
        negatives=args.negatives,
        negatives_limit=args.negatives_limit,
        size=args.size,
        workers=args.workers,
        api_base=args.api_base,
        per_page=args.per_page,
        retry=RetryPolicy(attempts=max(1, args.attempts), backoff_base=max(0.0, args.backoff)),
    )
    fetcher = FlickrFetcher(options, os.environ.get("FLICKR_API_KEY", ""))
    try:
        print(
            f"Fetching {args.user}'s photos tagged {', '.join(fetcher.tags)} "
            f"({SIZE_PIXELS[args.size]} px) into {args.out} ...",
            flush=True,
        )
        report = fetcher.run()
    finally:
        fetcher.http.close()
    print(format_report(report), flush=True)
    if not args.no_check:
        print("\nDataset check:", flush=True)
        print(dataset_check_summary(args.out), flush=True)
    return 1 if report.failures else 0
