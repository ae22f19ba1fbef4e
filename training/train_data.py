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

from isit.errors import IsitError


class DatasetError(IsitError):
    """The folder cannot be trained on; the message lists the dataset check's problems."""

    code = "dataset_invalid"


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
    data_dir: str | os.PathLike[str], *, include_conflicts: bool = False
) -> TrainingData:
    """Run the dataset check; raise :class:`DatasetError` on fatal problems."""
    from training.doctor import check_dataset, format_summary

    root = Path(data_dir)
    report = check_dataset(root)
    if report.fatal:
        raise DatasetError(
            "The dataset check found problems that stop training:\n"
            + "\n".join(f"  - {problem}" for problem in report.fatal)
        )
    splits: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for record in report.training_records(include_conflicts=include_conflicts):
        splits[record.split].append(
            Sample(
                path=(root / record.path).resolve(),
                relative=record.path,
                label=record.label,
                sha256=record.sha256,
                group=str(record.group),
            )
        )
    return TrainingData(
        labels=list(report.labels),
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        cross_validate=bool(report.cross_validate),
        warnings=list(report.warnings),
        summary=format_summary(report),
    )
