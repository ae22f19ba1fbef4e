"""Data: from the dataset doctor's report to what training needs.

Training never reads a folder on its own: it runs the same check as `isit check`, stops
on its fatal problems with the same messages, and uses its split (one representative
per group of duplicates, so no photo is counted twice and no duplicate leaks between
splits). Images that appear in more than one class folder (conflicts) are left out
unless asked for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from training.data.doctor import DatasetInvalid, DatasetReport, check_dataset, format_summary
from training.data.doctor.shortcut_audit import ShortcutWarning
from training.data.doctor.split import headline_by_cross_validation
from training.model.unknown import NEGATIVE_LABELS
from training.settings import MIN_TEST_PER_CLASS, MIN_TEST_PHOTOS

# Training stops with the dataset check's own error and messages.
DatasetError = DatasetInvalid
SKIPPED_LISTED = 5


@dataclass(frozen=True)
class Sample:
    path: Path  # absolute: where to read it
    relative: str  # as the user knows it, relative to DATA_DIR
    label: str
    sha256: str  # of the file bytes: the feature-cache key
    group: str  # duplicate group (a photo's own id when it has no duplicates)


@dataclass(frozen=True)
class TrainingData:
    labels: tuple[str, ...]
    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    test: tuple[Sample, ...]
    cross_validate: bool  # too few photos for a trustworthy test split
    warnings: tuple[str, ...] = ()
    summary: str = ""
    # The check's shortcut warnings (training.data.doctor.shortcut_audit.ShortcutWarning),
    # their example paths relative to ``root`` of each.
    shortcuts: tuple[ShortcutWarning, ...] = ()
    # Per split, SHA-256 of the bytes and of the pixels of every file of its groups
    # (copies too): what the model's training-photo fingerprint is made of.
    hashes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def learnt_hashes(self, cross_validated: bool) -> list[str]:
        """Hashes of the photos the exported model learnt from or was calibrated on:
        train + val, and test too when it learns from every photo."""
        splits = ("train", "val", "test") if cross_validated else ("train", "val")
        return [h for split in splits for h in self.hashes.get(split, ())]

    @property
    def negative_labels(self) -> tuple[str, ...]:
        return tuple(label for label in self.labels if label.lower() in NEGATIVE_LABELS)

    @property
    def negative_idx(self) -> list[int]:
        return [self.labels.index(label) for label in self.negative_labels]

    @property
    def every_photo(self) -> tuple[Sample, ...]:
        """Train, val and test photos, in that order (the rows of ``Features.all_x()``)."""
        return self.train + self.val + self.test

    def y(self, samples: Sequence[Sample]) -> np.ndarray:
        """Class indices of ``samples``."""
        return np.array([self.labels.index(s.label) for s in samples], dtype=np.int64)

    def groups(self, samples: Sequence[Sample]) -> np.ndarray:
        return np.array([s.group for s in samples])

    @property
    def headline_by_cross_validation(self) -> bool:
        """Whether the numbers come from cross-validation over every photo, not the test
        split: when a class is too small for held-out splits, or the test split is too
        small to say much (settings.MIN_TEST_PHOTOS, MIN_TEST_PER_CLASS)."""
        per_class = [sum(s.label == label for s in self.test) for label in self.labels]
        return headline_by_cross_validation(per_class, self.cross_validate)

    def headline_reason(self) -> str:
        if not self.headline_by_cross_validation:
            return f"the test split has {len(self.test)} photos, enough to measure on"
        return (
            f"the test split would have only {len(self.test)} photos (at least "
            f"{MIN_TEST_PHOTOS}, and {MIN_TEST_PER_CLASS} per class, are needed for a "
            "useful interval), so every photo is scored by models that never saw it"
        )

    def split_counts(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _warnings(report: DatasetReport, include_conflicts: bool) -> list[str]:
    warnings = list(report.warnings)
    skipped = [p for p in report.problems if p.kind != "hidden"]
    if skipped:
        shown = "; ".join(f"{p.path}: {p.reason}" for p in skipped[:SKIPPED_LISTED])
        more = (
            f" (and {len(skipped) - SKIPPED_LISTED} more)" if len(skipped) > SKIPPED_LISTED else ""
        )
        warnings.append(f"{len(skipped)} files were skipped: {shown}{more}")
    if report.conflicts and not include_conflicts:
        warnings.append(
            f"{len(report.conflicts)} photos appear in more than one class folder and were "
            "left out; put each in one folder (or train with --include-conflicts)."
        )
    return warnings


def load_training_data(
    data_dir: str | os.PathLike[str],
    *,
    include_conflicts: bool = False,
    progress: bool | None = None,
    features: str | os.PathLike[str] | None = None,
) -> TrainingData:
    """Run the dataset check (from an `isit features` table when ``features`` is given);
    raise :class:`DatasetInvalid` on its fatal problems."""
    report = check_dataset(Path(data_dir), progress=progress, features=features)
    report.raise_if_fatal()
    return training_data_from(report, include_conflicts=include_conflicts)


def training_data_from(report: DatasetReport, *, include_conflicts: bool = False) -> TrainingData:
    """The samples of a dataset check's report (one per duplicate group, split as it says)."""
    root = report.root
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
    hashes: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for record in report.images:
        if include_conflicts or not record.conflict:
            hashes[record.split] += [record.sha256, record.pixel_sha256]
    return TrainingData(
        hashes={split: tuple(values) for split, values in hashes.items()},
        labels=tuple(report.labels),
        train=tuple(splits["train"]),
        val=tuple(splits["val"]),
        test=tuple(splits["test"]),
        cross_validate=bool(report.cross_validation),
        warnings=tuple(_warnings(report, include_conflicts)),
        summary=format_summary(report),
        shortcuts=tuple(replace(w, root=root) for w in report.shortcut_warnings),
    )
