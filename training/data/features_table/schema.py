"""The features table: one Parquet row per file of DATA_DIR, plus a manifest.

A features folder holds ``manifest.json`` (written last: a folder without it is incomplete)
and ``rows/*.parquet``. Columns (null where not applicable):

- ``path``: relative to DATA_DIR, forward slashes; ``label``: the class folder (null for a
  file outside any class folder, or hidden); ``user_split``: train/val/test folder or null;
- ``sha256`` (file bytes), ``pixel_sha256``, ``width``, ``height`` (upright), ``format``,
  ``nbytes``; ``phashes``: the 16 perceptual hashes as int64 (the uint64 bit pattern),
  ``[0]`` the full frame; ``thumb``: the 64x64 RGB thumbnail, raw bytes (what the
  near-duplicate rule uses: :class:`training.data.doctor.file_hashes.Fingerprint`);
- ``problem_kind``, ``problem_reason``: why the file is not used (as the check says it);
- ``features``: the backbone's float32 features, null for a file with a problem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa

from isit.errors import IsitError
from training.data.doctor.file_hashes import THUMB_SIDE, Fingerprint, Unreadable
from training.json_types import JsonObject

FORMAT = "isit-features"
VERSION = 1
MANIFEST = "manifest.json"
ROWS = "rows"

SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("label", pa.string()),
        ("user_split", pa.string()),
        ("sha256", pa.string()),
        ("pixel_sha256", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("format", pa.string()),
        ("nbytes", pa.int64()),
        ("phashes", pa.list_(pa.int64())),
        ("thumb", pa.binary()),
        ("problem_kind", pa.string()),
        ("problem_reason", pa.string()),
        ("features", pa.list_(pa.float32())),
    ]
)
# The same columns for Spark (DDL): Spark has no unsigned types, hence int64 hashes.
SPARK_SCHEMA = (
    "path string, label string, user_split string, sha256 string, pixel_sha256 string, "
    "width int, height int, format string, nbytes long, phashes array<long>, thumb binary, "
    "problem_kind string, problem_reason string, features array<float>"
)


# One Parquet row: SCHEMA's column names to values (numbers, strings, bytes, arrays).
TableRow: TypeAlias = dict[str, Any]


class FeaturesError(IsitError):
    code = "features_invalid"


class FeaturesDirNotEmpty(FeaturesError):
    code = "features_dir_not_empty"


class FeaturesMismatch(FeaturesError):
    """The table was computed with another backbone or settings than asked for."""

    code = "features_mismatch"


def empty_row(path: str, label: str | None, user_split: str | None) -> TableRow:
    return {name: None for name in SCHEMA.names} | {
        "path": path,
        "label": label,
        "user_split": user_split,
    }


def fingerprint_row(row: TableRow, result: Fingerprint | Unreadable) -> TableRow:
    """``row`` with the fingerprint's columns, or the problem's."""
    if isinstance(result, Unreadable):
        return row | {"problem_kind": result.kind, "problem_reason": result.reason}
    return row | {
        "sha256": result.sha256,
        "pixel_sha256": result.pixel_sha256,
        "width": result.width,
        "height": result.height,
        "format": result.format,
        "nbytes": result.nbytes,
        "phashes": result.phashes.astype(np.uint64).view(np.int64),
        "thumb": np.ascontiguousarray(result.thumb, np.uint8).tobytes(),
    }


def row_fingerprint(row: TableRow) -> Fingerprint | Unreadable:
    """The check's view of one table row (the inverse of :func:`fingerprint_row`)."""
    if row["problem_kind"] is not None:
        return Unreadable(row["problem_kind"], row["problem_reason"] or "")
    thumb = np.frombuffer(row["thumb"], np.uint8).reshape(THUMB_SIDE, THUMB_SIDE, 3)
    return Fingerprint(
        sha256=row["sha256"],
        pixel_sha256=row["pixel_sha256"],
        width=int(row["width"]),
        height=int(row["height"]),
        format=row["format"],
        nbytes=int(row["nbytes"]),
        phashes=np.asarray(row["phashes"], np.int64).view(np.uint64),
        thumb=thumb,
    )


def to_table(rows: Sequence[TableRow]) -> pa.Table:
    columns = {name: [r[name] for r in rows] for name in SCHEMA.names}
    columns["phashes"] = [None if v is None else list(map(int, v)) for v in columns["phashes"]]
    columns["features"] = [
        None if v is None else np.asarray(v, np.float32) for v in columns["features"]
    ]
    return pa.table(columns, schema=SCHEMA)


@dataclass(frozen=True)
class Manifest:
    engine: str
    data_dir: str
    backbone: JsonObject  # name, weights_sha256, feature_dim, preprocess
    min_side: int
    class_names: list[str]
    user_splits: list[str]
    layout_fatal: list[str]
    rows: int
    seconds: dict[str, float]

    def to_json(self) -> JsonObject:
        return {"format": FORMAT, "version": VERSION, **self.__dict__}

    @classmethod
    def read(cls, folder: str | os.PathLike[str]) -> Manifest:
        path = Path(folder) / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FeaturesError(
                f"{folder} is not a complete features folder ({MANIFEST} is missing or "
                "damaged). Run `isit features DATA --out FOLDER` again."
            ) from exc
        if (
            not isinstance(data, dict)
            or data.get("format") != FORMAT
            or data.get("version") != VERSION
        ):
            raise FeaturesError(
                f"{path} is not an isit features manifest of version {VERSION}; "
                "recompute it with this version of isit."
            )
        missing = [k for k in cls.__dataclass_fields__ if k not in data]
        if missing:
            raise FeaturesError(
                f"{path} is damaged (no {', '.join(missing)}). Run `isit features DATA "
                "--out NEW_FOLDER` again."
            )
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def prepare_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """An empty folder for a new table; never writes into a folder that holds anything."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FeaturesDirNotEmpty(
            f"{out} already exists and is not an empty folder; isit never overwrites files. "
            "Choose a new folder for the features, or delete this one first."
        )
    out.mkdir(parents=True, exist_ok=True)
    return out
