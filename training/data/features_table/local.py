"""The local engine: today's code path (the check's fingerprints, the feature cache)."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.parquet as pq

from isit.feature_extractor import FeatureExtractor
from training.data.doctor.file_hashes import Fingerprint, fingerprint_files
from training.data.doctor.layout import Layout, scan_layout
from training.data.feature_cache import Entry, FeatureCache
from training.data.features_table.schema import ROWS, TableRow, empty_row, fingerprint_row, to_table

PART = "part-00000-local.parquet"


def ignored_rows(layout: Layout) -> list[TableRow]:
    """Hidden files and files outside class folders: rows without a label, with the reason."""
    return [
        empty_row(path, None, None) | {"problem_kind": kind, "problem_reason": reason}
        for path, kind, reason in layout.ignored
    ]


def write_part(rows: list[TableRow], out_dir: Path, name: str) -> None:
    folder = out_dir / ROWS
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_table(rows), folder / name, compression="zstd")


def write_local(
    root: Path,
    out_dir: Path,
    extractor: FeatureExtractor,
    *,
    min_side: int,
    workers: int | None,
    progress: bool | None,
) -> tuple[Layout, int, dict[str, float]]:
    """Write the table of ``root``; returns the layout, the row count and timings."""
    seconds: dict[str, float] = {}
    layout = scan_layout(root)
    start = time.perf_counter()
    results = list(
        fingerprint_files(
            (root / c.path for c in layout.candidates),
            min_side=min_side,
            workers=workers,
            progress=progress,
        )
    )
    seconds["decode+hashing"] = time.perf_counter() - start
    rows = [
        fingerprint_row(empty_row(c.path, c.label, c.user_split), result)
        for c, result in zip(layout.candidates, results, strict=True)
    ]
    readable = [i for i, r in enumerate(results) if isinstance(r, Fingerprint)]
    start = time.perf_counter()
    cache = FeatureCache(extractor, progress=progress)
    entries = [Entry(rows[i]["sha256"], root / rows[i]["path"]) for i in readable]
    for i, vector in zip(readable, cache.get(entries), strict=True):
        rows[i]["features"] = vector
    seconds["decode+backbone"] = time.perf_counter() - start
    start = time.perf_counter()
    rows += ignored_rows(layout)
    write_part(rows, out_dir, PART)
    seconds["write"] = time.perf_counter() - start
    return layout, len(rows), seconds
