"""What `isit fetch flickr` prints at the end: per-class counts, failures, the manifest."""

from __future__ import annotations

from pathlib import Path

from training.data.fetch.fetcher import FetchReport

MAX_LISTED_FAILURES = 20


def dataset_check_summary(data_dir: Path) -> str:
    """The dataset check's summary of DATA_DIR (the same check as `isit check`)."""
    from training.data.doctor import check_dataset, format_summary  # only when it is run

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
