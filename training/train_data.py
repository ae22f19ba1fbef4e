"""From the dataset doctor's report to what training needs: labelled, split samples.

Training never reads a folder on its own: it runs the same check as `python -m training
check`, stops on its fatal problems with the same messages, and uses its split (one
representative per group of duplicates, so no photo is counted twice and no duplicate
leaks between splits). Images that appear in more than one class folder (conflicts)
are left out unless asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from training.doctor import DatasetInvalid, check_dataset, format_summary

# Training stops with the dataset check's own error and messages.
DatasetError = DatasetInvalid


@dataclass(frozen=True)
class Sample:
    path: Path  # absolute
    relative: str  # as the user knows it, relative to DATA_DIR
    label: str
    sha256: str  # of the file bytes: the feature-cache key
    group: str  # duplicate group (a photo's own id when it has no duplicates)


@dataclass
class TrainingData:
    labels: list[str]
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    cross_validate: bool  # too few photos for a trustworthy test split
    warnings: list[str] = field(default_factory=list)
    summary: str = ""


def load_training_data(
    data_dir: str | os.PathLike[str],
    *,
    include_conflicts: bool = False,
    progress: bool | None = None,
) -> TrainingData:
    """Run the dataset check; raise :class:`DatasetInvalid` on its fatal problems."""
    root = Path(data_dir)
    report = check_dataset(root, progress=progress)
    report.raise_if_fatal()
    splits: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for record in report.usable_images(include_conflicts=include_conflicts):
        splits[record.split].append(
            Sample(
                path=(root / record.path).resolve(),
                relative=record.path,
                label=record.label,
                sha256=record.sha256,
                group=record.group_key,
            )
        )
    warnings = list(report.warnings)
    if report.problems:
        skipped = [p for p in report.problems if p.kind != "hidden"]
        if skipped:
            shown = "; ".join(f"{p.path}: {p.reason}" for p in skipped[:5])
            more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
            warnings.append(f"{len(skipped)} files were skipped: {shown}{more}")
    if report.conflicts and not include_conflicts:
        warnings.append(
            f"{len(report.conflicts)} photos appear in more than one class folder and were "
            "left out; put each in one folder (or train with --include-conflicts)."
        )
    return TrainingData(
        labels=list(report.labels),
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        cross_validate=bool(report.cross_validation),
        warnings=warnings,
        summary=format_summary(report),
    )
