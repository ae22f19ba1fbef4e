"""The doctor's findings: a DatasetReport, its JSON form and a summary for people."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from isit.display import display_path
from isit.errors import IsitError
from training.data.doctor.shortcut_audit import ShortcutAudit, ShortcutWarning
from training.data.doctor.split import headline_by_cross_validation
from training.json_types import JsonObject

NEGATIVE_CLASS_NAMES = ("other", "unknown")  # training uses these as "none of the above"
JSON_VERSION = 1


class DatasetInvalid(IsitError):
    """The folder cannot be trained on as it is; ``.fatal`` lists what to fix."""

    code = "dataset_invalid"

    def __init__(self, fatal: list[str]) -> None:
        super().__init__("The photo folder has problems to fix first:\n- " + "\n- ".join(fatal))
        self.fatal = list(fatal)


@dataclass(frozen=True)
class Problem:
    path: str  # the REAL path relative to the data folder (may hold surrogate escapes)
    kind: str  # not_an_image, empty, too_small, too_large, symlink_outside, not_a_file, ...
    reason: str  # a sentence a person can act on

    @property
    def display(self) -> str:
        """``path`` as safe, printable text (what JSON and the summary show)."""
        return display_path(self.path)

    def to_json(self) -> dict[str, str]:
        return {"path": self.display, "reason": display_path(self.reason), "kind": self.kind}


@dataclass(frozen=True)
class ImageRecord:
    """One readable image. Copies share ``group_key`` and ``split``."""

    path: str  # the REAL path relative to the data folder, forward slashes (open this)
    label: str
    split: str  # train / val / test of its whole duplicate group
    group: int | None  # index into DatasetReport.duplicate_groups; None if it has no copies
    group_key: str  # smallest sha256 in its group (its own when alone): drives the split
    sha256: str  # of the file bytes (training's feature-cache key)
    width: int
    height: int
    representative: bool  # the one image of its group that training uses
    conflict: bool  # its group spans two or more classes: left out by default
    user_split: str | None = None  # the split folder it sits in, if the user made one
    pixel_sha256: str = ""  # of the decoded pixels: a re-saved copy has the same

    @property
    def display(self) -> str:
        """``path`` as safe, printable text (what JSON and the summary show)."""
        return display_path(self.path)

    def to_json(self) -> JsonObject:
        return {
            "path": self.display,
            "label": display_path(self.label),
            "split": self.split,
            "group": self.group,
            "group_key": self.group_key,
            "sha256": self.sha256,
            "pixel_sha256": self.pixel_sha256,
            "width": self.width,
            "height": self.height,
            "representative": self.representative,
            "conflict": self.conflict,
            "user_split": self.user_split,
        }


@dataclass
class ClassInfo:
    files: int = 0  # readable images in the folder, copies included
    usable: int = 0  # distinct images (one per duplicate group), conflicts left out
    copies: int = 0  # readable images not counted because they copy another
    conflicting: int = 0  # readable images in cross-class groups
    split: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0, "test": 0})
    held_out_ok: bool = True  # enough distinct images for a meaningful val AND test

    def to_json(self) -> JsonObject:
        return {
            "files": self.files,
            "usable": self.usable,
            "copies": self.copies,
            "conflicting": self.conflicting,
            "split": dict(self.split),
            "held_out_ok": self.held_out_ok,
        }


@dataclass
class DatasetReport:
    """Everything ``check_dataset`` found. Paths are relative to ``root``."""

    root: Path
    settings: JsonObject
    images: list[ImageRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    duplicate_groups: list[list[str]] = field(default_factory=list)
    duplicate_kinds: list[str] = field(default_factory=list)  # per group: identical_bytes...
    conflicts: list[list[str]] = field(default_factory=list)
    leaks: list[list[str]] = field(default_factory=list)  # groups across user split folders
    class_info: dict[str, ClassInfo] = field(default_factory=dict)
    user_splits: list[str] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    shortcut_audit: ShortcutAudit | None = None  # None when not run (--no-audit, fatal)

    # -- what training uses -------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return not self.fatal

    @property
    def classes(self) -> dict[str, int]:
        """Label -> usable, de-duplicated image count (conflicts left out)."""
        return {label: info.usable for label, info in self.class_info.items()}

    @property
    def labels(self) -> list[str]:
        return sorted(self.class_info)

    @property
    def negative_classes(self) -> list[str]:
        return [c for c in self.labels if c.lower() in NEGATIVE_CLASS_NAMES]

    @property
    def cross_validation(self) -> bool:
        """True when some class is too small for held-out val/test: use k-fold instead."""
        return any(not info.held_out_ok for info in self.class_info.values())

    @property
    def shortcut_warnings(self) -> list[ShortcutWarning]:
        """Facts that are not the subject (frames, formats, sizes, cameras...) and tell a
        class apart: what the model may learn instead of what the photos show."""
        return list(self.shortcut_audit.warnings) if self.shortcut_audit else []

    @property
    def imbalance_ratio(self) -> float | None:
        counts = [c for c in self.classes.values() if c > 0]
        return max(counts) / min(counts) if counts else None

    def usable_images(self, *, include_conflicts: bool = False) -> list[ImageRecord]:
        """One record per duplicate group (its representative), with the group's split."""
        return [
            r for r in self.images if r.representative and (include_conflicts or not r.conflict)
        ]

    def split_images(self, split: str, *, include_conflicts: bool = False) -> list[ImageRecord]:
        return [
            r for r in self.usable_images(include_conflicts=include_conflicts) if r.split == split
        ]

    def split_counts(self) -> dict[str, int]:
        counts = Counter(r.split for r in self.usable_images())
        return {s: counts.get(s, 0) for s in ("train", "val", "test")}

    def cross_validation_folds(self, k: int = 5) -> dict[str, int]:
        """Path of each usable image -> fold 0..k-1, stratified per class."""
        from training.data.doctor.split import cross_validation_folds

        usable = self.usable_images()
        keys: dict[str, list[str]] = {}
        for r in usable:
            keys.setdefault(r.label, []).append(r.group_key)
        folds = cross_validation_folds(keys, k)
        return {r.path: folds[r.group_key] for r in usable}

    def abspath(self, record: ImageRecord) -> Path:
        """Where the image's file is (records hold paths relative to ``root``)."""
        return self.root / record.path

    def raise_if_fatal(self) -> None:
        if self.fatal:
            raise DatasetInvalid(self.fatal)

    # -- JSON ---------------------------------------------------------------------------
    def to_json(self) -> JsonObject:
        """The documented schema (classes, problems, duplicate_groups, conflicts, split,
        fatal) plus details: warnings, per-class info, every image record, settings.

        Every path, label and message is in its display form (:func:`display_path`), so
        any file name can be written as UTF-8; the real paths are the records' ``path``."""
        shown = display_path
        return {
            "classes": {shown(k): v for k, v in self.classes.items()},
            "problems": [p.to_json() for p in self.problems],
            "duplicate_groups": [[shown(p) for p in g] for g in self.duplicate_groups],
            "conflicts": [[shown(p) for p in g] for g in self.conflicts],
            "split": {r.display: r.split for r in self.images if not r.conflict},
            "fatal": [shown(f) for f in self.fatal],
            "version": JSON_VERSION,
            "root": shown(self.root),
            "ok": self.ok,
            "warnings": [shown(w) for w in self.warnings],
            "cross_validation": self.cross_validation,
            "imbalance_ratio": self.imbalance_ratio,
            "negative_classes": [shown(c) for c in self.negative_classes],
            "split_counts": self.split_counts(),
            "user_splits": list(self.user_splits),
            "leaks": [[shown(p) for p in g] for g in self.leaks],
            "shortcuts": [w.to_json() for w in self.shortcut_warnings],
            "shortcut_audit": self.shortcut_audit.to_json() if self.shortcut_audit else None,
            "duplicate_kinds": list(self.duplicate_kinds),
            "class_details": {shown(k): v.to_json() for k, v in sorted(self.class_info.items())},
            "images": [r.to_json() for r in self.images],
            "settings": dict(self.settings),
            "seconds": round(self.seconds, 3),
        }


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _listing(items: list[str], limit: int) -> list[str]:
    lines = [f"    {item}" for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"    ... and {len(items) - limit} more (see --json)")
    return lines


def _how(report: DatasetReport) -> str:
    """How training will measure the model (the same rule training applies)."""
    tests = [ci.split["test"] for ci in report.class_info.values()]
    if headline_by_cross_validation(tests, report.cross_validation):
        return "k-fold cross-validation over every photo (the test split is too small to say much)"
    return "the held-out test split"


def format_summary(report: DatasetReport, *, limit: int = 10) -> str:
    """A readable summary: classes, problems, duplicates, split, warnings, fatal errors."""
    readable = len(report.images)
    lines = [
        f"Checked {report.root}: {_count(readable, 'readable image', 'readable images')}, "
        f"{_count(len(report.class_info), 'class', 'classes')}, "
        f"{_count(len(report.problems), 'problem', 'problems')} "
        f"({report.seconds:.1f} s)."
    ]
    if report.user_splits:
        lines.append(f"Using your split folders: {', '.join(s + '/' for s in report.user_splits)}")
    if report.class_info:
        width = max(8, *(len(c) for c in report.class_info))
        lines.append("")
        lines.append(f"  {'class':<{width}}  usable  files  copies  conflicts  train/val/test")
        for label in report.labels:
            info = report.class_info[label]
            s = info.split
            note = (
                "  (negative class: 'none of the above')"
                if label in report.negative_classes
                else ""
            )
            lines.append(
                f"  {label:<{width}}  {info.usable:>6}  {info.files:>5}  "
                f"{info.copies:>6}  {info.conflicting:>9}  "
                f"{s['train']}/{s['val']}/{s['test']}{note}"
            )
        counts = report.split_counts()
        lines.append(
            f"  {'total':<{width}}  {sum(report.classes.values()):>6}  {readable:>5}"
            f"  {'':>6}  {'':>9}  {counts['train']}/{counts['val']}/{counts['test']}"
        )
    if report.problems:
        lines.append("")
        lines.append(
            f"Problems ({len(report.problems)} skipped; nothing in the folder was changed):"
        )
        lines += _listing([f"{p.path}: {p.reason}" for p in report.problems], limit)
    if report.duplicate_groups:
        copies = sum(len(g) - 1 for g in report.duplicate_groups)
        lines.append("")
        lines.append(
            f"Duplicates: {len(report.duplicate_groups)} groups of copies; each counts "
            f"once ({copies} extra files not counted)."
        )
        lines += _listing(
            [
                f"[{kind.replace('_', ' ')}] " + "  =  ".join(group)
                for group, kind in zip(report.duplicate_groups, report.duplicate_kinds, strict=True)
            ],
            limit,
        )
    if report.conflicts:
        lines.append("")
        lines.append(
            f"Conflicts: {_count(len(report.conflicts), 'photo appears', 'photos appear')} in "
            "two or more classes; training leaves them out. Keep each in one class folder only."
        )
        lines += _listing(["  vs  ".join(group) for group in report.conflicts], limit)
    if report.shortcut_warnings:
        lines.append("")
        lines.append("Possible shortcuts (facts other than the subject that tell classes apart):")
        lines += [f"  - {w.message}" for w in report.shortcut_warnings]
    if report.warnings:
        lines.append("")
        lines.append("Warnings:")
        lines += [f"  - {w}" for w in report.warnings]
    lines.append("")
    if report.fatal:
        lines.append(f"NOT READY ({len(report.fatal)} to fix):")
        lines += [f"  - {f}" for f in report.fatal]
    else:
        lines.append(f"OK: ready to train; accuracy will be measured with {_how(report)}.")
    # Names with undecodable bytes or control characters are shown escaped, line by line.
    return "\n".join(display_path(line) for line in lines)
