"""check_dataset: list, fingerprint, de-duplicate and split a folder of labelled photos."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from training.data.doctor.duplicates import HAMMING_THRESHOLD, MIN_CORRELATION, find_groups
from training.data.doctor.file_hashes import Fingerprint, fingerprint_files
from training.data.doctor.findings import ClassInfo, DatasetReport, ImageRecord, Problem
from training.data.doctor.layout import SPLITS, Candidate, scan_layout
from training.data.doctor.shortcut_audit import ShortcutAudit, audit_shortcuts
from training.data.doctor.shortcut_facts import AuditPhoto
from training.data.doctor.split import (
    by_fraction,
    carve_by_rank,
    guard_empty,
    min_groups_for_held_out,
    unit,
    validate_fractions,
)

MIN_IMAGE_SIDE = 32
IMBALANCE_WARNING = 1.5

_ADVICE = {
    "empty": "Empty file (0 bytes), skipped: delete it or copy the photo again.",
    "hidden": None,
    "outside_class_folder": None,
}


def _problem_reason(kind: str, reason: str) -> str:
    advice = _ADVICE.get(kind)
    if advice:
        return advice
    return (
        reason if kind in ("hidden", "outside_class_folder", "too_small") else f"{reason} Skipped."
    )


class _Unit:
    """A duplicate group, or one image without copies: what gets a split."""

    def __init__(self, members: list[int], kind: str | None) -> None:
        self.members = members
        self.kind = kind  # None for a lone image
        self.group: int | None = None
        self.key = ""
        self.labels: set[str] = set()
        self.user_splits: set[str] = set()
        self.split = "train"
        self.representative = members[0]


def check_dataset(
    data_dir: str | os.PathLike[str] | None,
    *,
    min_per_class: int = 5,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    progress: bool | None = None,
    workers: int | None = None,
    min_side: int = MIN_IMAGE_SIDE,
    hamming_threshold: int = HAMMING_THRESHOLD,
    min_correlation: float = MIN_CORRELATION,
    features: str | os.PathLike[str] | None = None,
    audit: bool = True,
) -> DatasetReport:
    """Check DATA_DIR and return the report; never raises for problems in the data.

    ``progress``: None shows a bar only when stderr is a terminal. ``workers``: processes
    decoding images (default: up to 4). ``features``: a features folder (`isit features`)
    whose rows are used instead of reading DATA_DIR (None: the folder it was made from).
    ``audit``: also look for shortcuts (frames, formats, cameras... telling classes apart).
    Raises ValueError for invalid settings only.
    """
    started = time.perf_counter()
    fractions = validate_fractions(split)
    if min_per_class < 1:
        raise ValueError("min_per_class must be at least 1")
    from_table = None
    if features is not None:
        from training.data.features_table import check_inputs

        from_table = check_inputs(features, min_side)
        data_dir = from_table[2].data_dir if data_dir is None else data_dir
    if data_dir is None:
        raise ValueError("give a DATA_DIR, or a features folder to check instead")
    root = Path(data_dir)
    report = DatasetReport(
        root=root,
        settings={
            "min_per_class": min_per_class,
            "split": list(fractions),
            "min_side": min_side,
            "hamming_threshold": hamming_threshold,
            "min_correlation": min_correlation,
            "min_held_out_class_size": min_groups_for_held_out(fractions),
        },
    )
    layout = scan_layout(root) if from_table is None else from_table[0]
    report.user_splits = layout.user_splits
    report.problems += [Problem(p, k, r) for p, k, r in layout.ignored]
    report.fatal += layout.fatal
    if not layout.candidates and layout.fatal:
        report.seconds = time.perf_counter() - started
        return report

    readable: list[tuple[Candidate, Fingerprint]] = []
    results = (
        fingerprint_files(
            (root / c.path for c in layout.candidates),
            min_side=min_side,
            workers=workers,
            progress=progress,
            facts=audit,
        )
        if from_table is None
        else from_table[1]
    )
    for cand, result in zip(layout.candidates, results, strict=True):
        if isinstance(result, Fingerprint):
            readable.append((cand, result))
        else:
            report.problems.append(
                Problem(cand.path, result.kind, _problem_reason(result.kind, result.reason))
            )
    report.problems.sort(key=lambda p: p.path)

    units = _make_units(readable, hamming_threshold, min_correlation)
    _assign_splits(units, readable, fractions, layout.user_splits)
    _fill_report(report, readable, units, layout.class_names, fractions, min_per_class)
    report.shortcut_audit = _audit(report, readable) if audit and not report.fatal else None
    report.seconds = time.perf_counter() - started
    return report


def _audit(report: DatasetReport, readable: list[tuple[Candidate, Fingerprint]]) -> ShortcutAudit:
    """The shortcut audit on every file training may use (copies share their group)."""
    by_path = {cand.path: fp for cand, fp in readable}
    photos = [
        AuditPhoto(
            path=r.path,
            label=r.label,
            group=r.group_key,
            width=r.width,
            height=r.height,
            format=by_path[r.path].format,
            facts=by_path[r.path].facts,
        )
        for r in report.images
        if not r.conflict
    ]
    return audit_shortcuts(photos)


def _make_units(
    readable: list[tuple[Candidate, Fingerprint]], threshold: int, min_correlation: float
) -> list[_Unit]:
    groups = find_groups(
        [fp for _, fp in readable], threshold=threshold, min_correlation=min_correlation
    )
    grouped = {i for g in groups for i in g.members}
    units = [_Unit(list(g.members), g.kind) for g in groups]
    units += [_Unit([i], None) for i in range(len(readable)) if i not in grouped]
    for u in units:
        u.key = min(readable[i][1].sha256 for i in u.members)
        u.labels = {readable[i][0].label for i in u.members}
        u.user_splits = {readable[i][0].user_split for i in u.members} - {None}
        # Keep the largest image; among equals the shortest, then first, path.
        u.representative = min(
            u.members,
            key=lambda i: (
                -readable[i][1].width * readable[i][1].height,
                len(readable[i][0].path),
                readable[i][0].path,
            ),
        )
    # Duplicate groups are numbered in the order of their first path.
    numbered = sorted(
        (u for u in units if u.kind), key=lambda u: min(readable[i][0].path for i in u.members)
    )
    for n, u in enumerate(numbered):
        u.group = n
    return units


def _assign_splits(
    units: list[_Unit],
    readable: list[tuple[Candidate, Fingerprint]],
    fractions: tuple[float, float, float],
    user_splits: list[str],
) -> None:
    share = dict(zip(SPLITS, fractions, strict=True))
    missing = [s for s in SPLITS if s not in user_splits] if user_splits else list(SPLITS)
    bands = {s: share[s] for s in ["train", *missing]} if user_splits else share
    by_class: dict[str, dict[str, str]] = defaultdict(dict)
    movable: set[str] = set()
    movable_by_class: dict[str, list[str]] = defaultdict(list)
    for u in units:
        # A group across split folders is a leak: all of it goes to the earliest split,
        # so no evaluation image has a copy in training.
        chosen = next(s for s in SPLITS if s in u.user_splits) if user_splits else "train"
        if chosen == "train" and len(bands) > 1:
            u.split = by_fraction(unit(u.key), bands)  # conflicts keep this band
            movable.add(u.key)
            if len(u.labels) == 1:
                movable_by_class[next(iter(u.labels))].append(u.key)
        else:
            u.split = chosen
        if len(u.labels) == 1:
            by_class[next(iter(u.labels))][u.key] = u.split
    for label, keys in movable_by_class.items():  # exactly stratified, per class
        by_class[label].update(carve_by_rank(keys, bands))
    for u in units:
        if len(u.user_splits) > 1:  # a leak: train on a copy that sits in its own split folder
            here = [i for i in u.members if readable[i][0].user_split == u.split]
            if here and u.representative not in here:
                u.representative = min(here, key=lambda i: readable[i][0].path)
    units_by_key = {u.key: u for u in units}
    for assigned in by_class.values():
        guard_empty(
            assigned,
            {k: unit(k) for k in assigned},
            movable,
            targets=tuple(s for s in ("val", "test") if s in missing),
        )
        for key, split in assigned.items():
            units_by_key[key].split = split


def _fill_report(
    report: DatasetReport,
    readable: list[tuple[Candidate, Fingerprint]],
    units: list[_Unit],
    class_names: list[str],
    fractions: tuple[float, float, float],
    min_per_class: int,
) -> None:
    info = {label: ClassInfo() for label in class_names}
    records: list[ImageRecord] = []
    grouped = sorted((u for u in units if u.group is not None), key=lambda u: u.group)
    for u in grouped:
        paths = sorted(readable[i][0].path for i in u.members)
        report.duplicate_groups.append(paths)
        report.duplicate_kinds.append(u.kind or "near")
        if len(u.labels) > 1:
            report.conflicts.append(paths)
        if len(u.user_splits) > 1:
            report.leaks.append(paths)
    for u in units:
        conflict = len(u.labels) > 1
        for i in u.members:
            cand, fp = readable[i]
            records.append(
                ImageRecord(
                    path=cand.path,
                    label=cand.label,
                    split=u.split,
                    group=u.group,
                    group_key=u.key,
                    sha256=fp.sha256,
                    width=fp.width,
                    height=fp.height,
                    representative=i == u.representative,
                    conflict=conflict,
                    user_split=cand.user_split,
                    pixel_sha256=fp.pixel_sha256,
                )
            )
            ci = info.setdefault(cand.label, ClassInfo())
            ci.files += 1
            if conflict:
                ci.conflicting += 1
            elif i != u.representative:
                ci.copies += 1
        if not conflict:
            ci = info[next(iter(u.labels))]
            ci.usable += 1
            ci.split[u.split] += 1
    report.images = sorted(records, key=lambda r: r.path)
    report.class_info = dict(sorted(info.items()))
    _verdicts(report, fractions, min_per_class)


def _class_folder(report: DatasetReport, label: str) -> str:
    base = report.root / report.user_splits[0] if report.user_splits else report.root
    return f"{base / label}/"


def _verdicts(
    report: DatasetReport, fractions: tuple[float, float, float], min_per_class: int
) -> None:
    needed = min_groups_for_held_out(fractions)
    user_held_out = {"val", "test"} <= set(report.user_splits)
    for ci in report.class_info.values():
        has_both = ci.split["val"] > 0 and ci.split["test"] > 0
        ci.held_out_ok = has_both and (user_held_out or ci.usable >= needed)
    outside = sum(p.kind == "outside_class_folder" for p in report.problems)
    if not report.images:
        where = (
            f"The {outside} photos in {report.root} sit directly in it, outside any class folder."
            if outside
            else f"No readable images in {report.root}."
        )
        report.fatal.append(
            f"{where} Put them in one sub-folder per class, e.g. "
            f"{report.root / 'cats'}/ and {report.root / 'dogs'}/."
        )
    if len(report.class_info) < 2 and report.images:
        names = ", ".join(report.class_info) or "none"
        report.fatal.append(
            f"Found {len(report.class_info)} class folder(s) ({names}); isit needs at least 2. "
            f"Add a folder of photos of something else, e.g. {report.root / 'other'}/."
        )
    for label, ci in report.class_info.items():
        if ci.usable < min_per_class:
            left_out = []
            if ci.copies:
                left_out.append(f"{ci.copies} copies")
            if ci.conflicting:
                left_out.append(f"{ci.conflicting} also in another class")
            why = f" (not counting {' and '.join(left_out)})" if left_out else ""
            report.fatal.append(
                f"Class '{label}' has {ci.usable} usable images{why}; at least {min_per_class} "
                f"are needed. Add more distinct photos to {_class_folder(report, label)}"
            )
    counts = {k: v for k, v in report.classes.items() if v > 0}
    ratio = report.imbalance_ratio
    if ratio and ratio >= IMBALANCE_WARNING and len(counts) >= 2:
        big = max(counts, key=lambda k: counts[k])
        small = min(counts, key=lambda k: counts[k])
        report.warnings.append(
            f"Classes are imbalanced: '{big}' has {ratio:.1f}x as many usable photos as "
            f"'{small}'. Training weights classes to compensate; more photos of '{small}' "
            "would help more."
        )
    small = [
        label for label, ci in report.class_info.items() if not ci.held_out_ok and ci.usable >= 1
    ]
    if small and not report.fatal:
        report.warnings.append(
            f"Too few distinct photos for a held-out validation and test split in "
            f"{', '.join(repr(s) for s in small)} (a class needs {needed} at "
            f"{'/'.join(f'{f:.0%}' for f in fractions)}). Training will measure accuracy with "
            "k-fold cross-validation instead; add photos for a separate test set."
        )
    if report.leaks:
        report.warnings.append(
            f"{len(report.leaks)} photos have copies in more than one split folder "
            "(a leak: test numbers would be too good). Each is used in the earliest split "
            "only (train before val before test); remove the extra copies."
        )
