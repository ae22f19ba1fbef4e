"""Rows of the features table from file bytes: what a Spark executor runs per batch.

The same core functions as the local path, on bytes instead of paths: the check's
fingerprint (:func:`training.data.doctor.file_hashes.fingerprint_bytes`, in its two halves so
the time of each can be measured) and the features' ``isit.imaging.preprocess`` (what
:class:`training.data.feature_cache.FeatureCache` computes for an un-augmented image), then
one onnxruntime run per batch.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from isit.errors import ImageError
from isit.feature_extractor import FeatureExtractor
from isit.imaging import preprocess
from training import settings
from training.data.doctor.file_hashes import (
    Fingerprint,
    Unreadable,
    decode_for_fingerprint,
    fingerprint_decoded,
)
from training.data.features_table.schema import TableRow, empty_row, fingerprint_row

BATCH = settings.BACKBONE_BATCH  # images per onnxruntime run (as the feature cache)
STAGES = ("decode", "hashing", "backbone")  # what the seconds are spent on


def _fingerprint(data: bytes, min_side: int, seconds: dict[str, float]) -> Fingerprint | Unreadable:
    start = time.perf_counter()
    decoded = decode_for_fingerprint(data)
    seconds["decode"] += time.perf_counter() - start
    if isinstance(decoded, Unreadable):
        return decoded
    start = time.perf_counter()
    result = fingerprint_decoded(data, decoded, min_side)
    seconds["hashing"] += time.perf_counter() - start
    return result


def file_rows(
    files: Sequence[tuple[str, str | None, str | None, bytes]],
    extractor: FeatureExtractor,
    min_side: int,
    seconds: dict[str, float] | None = None,
) -> list[TableRow]:
    """One row per ``(path, label, user_split, bytes)``; a bad file is a row, never raises."""
    seconds = seconds if seconds is not None else defaultdict(float)
    rows, pixels, owners = [], [], []
    for path, label, user_split, data in files:
        row = fingerprint_row(
            empty_row(path, label, user_split), _fingerprint(data, min_side, seconds)
        )
        if row["problem_kind"] is None:
            start = time.perf_counter()
            try:
                pixels.append(preprocess(data, extractor.spec))
                owners.append(len(rows))
            except ImageError as exc:  # decodes for the check, not at the model's size
                row |= {"problem_kind": exc.code, "problem_reason": exc.message}
            seconds["decode"] += time.perf_counter() - start
        rows.append(row)
    start = time.perf_counter()
    for lo in range(0, len(pixels), BATCH):
        features = extractor.run(np.stack(pixels[lo : lo + BATCH]))
        for i, vector in zip(owners[lo : lo + BATCH], features, strict=True):
            rows[i]["features"] = vector
    seconds["backbone"] += time.perf_counter() - start
    return rows
