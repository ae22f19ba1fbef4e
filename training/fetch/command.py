"""`python -m training fetch flickr ...`: download a Flickr user's tagged photos as classes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from training.fetch.errors import FetchError
from training.fetch.fetcher import FetchOptions, FetchReport, FlickrFetcher
from training.fetch.flickr import API_BASE, MAX_PER_PAGE, SIZE_PIXELS
from training.fetch.http import RetryPolicy

MAX_LISTED_FAILURES = 20


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    flickr = sources.add_parser(
        "flickr",
        help="a Flickr user's photos: one class folder per tag",
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
        "--limit", type=_positive_int, metavar="N", help="at most N photos per tag (default: all)"
    )
    flickr.add_argument(
        "--negatives", action="store_true", help="also fetch photos carrying none of the tags"
    )
    flickr.add_argument(
        "--negatives-limit",
        type=_positive_int,
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
        type=_positive_int,
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


def dataset_check_summary(data_dir: Path) -> str:
    """The dataset check's summary of DATA_DIR (the same check as `python -m training check`)."""
    from training.doctor import check_dataset, format_summary  # only when it is run

    return format_summary(check_dataset(data_dir))


def format_report(report: FetchReport) -> str:
    lines = [f"Flickr user {report.user.username} ({report.user.nsid}) -> {report.out}"]
    for outcome in report.classes:
        lines.append(
            f"  {outcome.label + '/':<20} {outcome.total:5d} photos "
            f"({outcome.downloaded} new, {outcome.already_had} already there"
            + (f", {outcome.failed} failed)" if outcome.failed else ")")
        )
        if outcome.total == 0:
            lines.append(f"  warning: {outcome.label}/ is empty; it cannot be trained as a class.")
    if report.ambiguous:
        lines.append(
            f"  {len(report.ambiguous)} photos carry several of the tags and were not kept "
            "(a photo must belong to one class)."
        )
    if report.failures:
        lines.append(f"{len(report.failures)} downloads failed and were not kept:")
        for failure in report.failures[:MAX_LISTED_FAILURES]:
            lines.append(f"  {failure.label}/{failure.photo_id}: {failure.reason}")
        if len(report.failures) > MAX_LISTED_FAILURES:
            lines.append(f"  ... and {len(report.failures) - MAX_LISTED_FAILURES} more")
        lines.append("Run the same command again to retry them.")
    if report.stale_temps_removed:
        lines.append(f"Removed {report.stale_temps_removed} half-written files of an earlier run.")
    lines.append(
        f"Manifest (attribution): {report.out / 'manifest.csv'} ({report.manifest_rows} photos)"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
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
    try:
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
    except FetchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(format_report(report), flush=True)
    if not args.no_check:
        print("\nDataset check:", flush=True)
        print(dataset_check_summary(args.out), flush=True)
    return 0
