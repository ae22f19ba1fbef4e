"""Benchmark `check` (the dataset doctor): images per second, and what it finds.

1. 2,000 generated 400x300 JPEG photos in 4 classes, with 40 exact and 40 resized copies
   planted (the copies are extra files, 2,080 in all): serial and with worker processes.
2. 30 generated 12-megapixel JPEGs (draft-mode decoding).
3. ``../shared/data/vader_elsa`` if present (482 web photos, exactly two byte-identical
   pairs): classes, duplicate groups, split sizes, and the closest pairs that were NOT
   merged, so the near-duplicate threshold can be judged.

Run (from the project root): .venv/bin/python -m bench.bench_check
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers.synthetic import draw_photo
from training.data.doctor import check_dataset
from training.data.doctor.duplicates import (
    HAMMING_THRESHOLD,
    MIN_CORRELATION,
    _Thumbs,
    candidate_pairs,
    correlation,
)
from training.data.doctor.file_hashes import Fingerprint, default_workers, fingerprint_files

REPO = Path(__file__).resolve().parents[1]
VADER_ELSA = REPO.parent / "shared" / "data" / "vader_elsa"


def make_generated(root: Path, count: int = 2000, classes: int = 4) -> int:
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / f"class_{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        draw_photo(i, (400, 300)).save(folder / f"photo_{i:04d}.jpg", quality=90)
    picks = rng.choice(count, 80, replace=False)
    for n, i in enumerate(picks):
        src = root / f"class_{i % classes}" / f"photo_{i:04d}.jpg"
        if n < 40:
            shutil.copyfile(src, src.with_name(f"photo_{i:04d} - Copy.jpg"))
        else:
            with Image.open(src) as img:
                img.resize((200, 150)).save(src.with_name(f"photo_{i:04d} small.jpg"), quality=80)
    return count + 80


def run(root: Path, workers: int) -> tuple[object, float]:
    start = time.perf_counter()
    report = check_dataset(root, workers=workers, progress=False)
    return report, time.perf_counter() - start


def bench_generated() -> None:
    with tempfile.TemporaryDirectory(prefix="isit-bench-check-") as tmp:
        root = Path(tmp) / "data"
        start = time.perf_counter()
        files = make_generated(root)
        print(f"generated {files} files in {time.perf_counter() - start:.1f} s")
        for workers in (1, default_workers()):
            report, seconds = run(root, workers)
            kinds = {k: report.duplicate_kinds.count(k) for k in set(report.duplicate_kinds)}
            print(
                f"  check, {workers} worker(s): {seconds:.1f} s, {files / seconds:.0f} images/s;"
                f" {len(report.duplicate_groups)} duplicate groups {kinds} (planted: 80),"
                f" usable {sum(report.classes.values())}, split {report.split_counts()}"
            )


def bench_large(count: int = 30) -> None:
    """12-megapixel phone-size JPEGs: draft-mode decoding keeps these fast."""
    with tempfile.TemporaryDirectory(prefix="isit-bench-check-large-") as tmp:
        root = Path(tmp)
        base = draw_photo(1, (4000, 3000), noise=3.0)
        for i in range(count):
            img = base.copy()
            img.paste(draw_photo(100 + i, (2400, 1800)), (800 + 10 * i, 600))  # distinct content
            folder = root / ("a" if i % 2 else "b")
            folder.mkdir(exist_ok=True)
            img.save(folder / f"{i}.jpg", quality=90)
        report, seconds = run(root, 1)
        print(
            f"  {count} photos of 4000x3000, 1 worker: {seconds:.1f} s, {count / seconds:.1f} "
            f"images/s ({count * 12 / seconds:.0f} MP/s); groups found: "
            f"{len(report.duplicate_groups)}"
        )


def closest_unmerged(root: Path, limit: int = 5) -> list[tuple[float, str, str]]:
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    fps = [f for f in fingerprint_files(paths, progress=False) if isinstance(f, Fingerprint)]
    assert len(fps) == len(paths)
    thumbs = _Thumbs(fps)
    scored = []
    for i, j in candidate_pairs(np.stack([f.phashes for f in fps]), 16).tolist():
        if fps[i].sha256 == fps[j].sha256:
            continue
        scored.append(
            (
                correlation(thumbs[i], thumbs[j]),
                paths[i].relative_to(root).as_posix(),
                paths[j].relative_to(root).as_posix(),
            )
        )
    return sorted(scored, reverse=True)[:limit]


def bench_vader_elsa() -> None:
    if not VADER_ELSA.is_dir():
        print(f"skipped: {VADER_ELSA} not found")
        return
    files = sum(1 for p in VADER_ELSA.rglob("*") if p.is_file())
    for workers in (1, default_workers()):
        report, seconds = run(VADER_ELSA, workers)
        print(f"  check, {workers} worker(s): {seconds:.2f} s, {files / seconds:.0f} images/s")
    print(f"  classes (usable): {report.classes}; problems: {len(report.problems)}")
    print(f"  duplicate groups: {len(report.duplicate_groups)}")
    for group, kind in zip(report.duplicate_groups, report.duplicate_kinds, strict=True):
        print(f"    [{kind}] {' = '.join(group)}")
    print(
        f"  split: {report.split_counts()}; per class: "
        f"{ {k: v.split for k, v in report.class_info.items()} }"
    )
    print(
        f"  cross-validation needed: {report.cross_validation}; "
        f"imbalance ratio {report.imbalance_ratio:.2f}"
    )
    print(
        "  closest pairs within 16 hash bits that were NOT merged (detail correlation; "
        f"merged at >= {MIN_CORRELATION} within {HAMMING_THRESHOLD} bits):"
    )
    for score, a, b in closest_unmerged(VADER_ELSA):
        print(f"    {score:.3f}  {a}  vs  {b}")


if __name__ == "__main__":
    print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (shared machine?)")
    print("== 2,000 generated photos")
    bench_generated()
    print("== large photos")
    bench_large()
    print(f"== {VADER_ELSA}")
    bench_vader_elsa()
