"""The features table: decode every photo once, keep what `check` and `train` need.

::

    from training.data.features_table import write_features, feature_preset, check_inputs

    write_features("data/", "features/", engine="local")            # or engine="spark"
    report = check_dataset("data/", features="features/")           # no decoding
    preset = feature_preset("features/", "mobilenet_v2")            # sha256 -> float32[D]
    cache = FeatureCache(extractor, preset=preset)                  # no backbone pass

``engine="local"`` runs today's code path (the check's fingerprints in worker processes,
features through :class:`training.data.feature_cache.FeatureCache`); ``engine="spark"`` reads
the files with Spark's ``binaryFile`` source and computes the same rows in a vectorised
UDF (:mod:`training.data.features_table.spark`). Both write the same columns
(:mod:`training.data.features_table.schema`); features agree within 1e-5, problems and hashes
exactly.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from isit.feature_extractor import FeatureExtractor
from training.atomic import atomic_write
from training.backbones.registry import get_backbone
from training.data.doctor.examine import MIN_IMAGE_SIDE
from training.data.doctor.file_hashes import Fingerprint, Unreadable
from training.data.doctor.layout import Candidate, Layout
from training.data.features_table.schema import (
    MANIFEST,
    ROWS,
    SCHEMA,
    FeaturesError,
    FeaturesMismatch,
    Manifest,
    prepare_out_dir,
    row_fingerprint,
)
from training.json_types import JsonObject

ENGINES = ("local", "spark")
DEFAULT_MASTER = "local[2]"

__all__ = [
    "DEFAULT_MASTER",
    "ENGINES",
    "FeaturesError",
    "FeaturesMismatch",
    "Manifest",
    "check_inputs",
    "feature_preset",
    "read_rows",
    "write_features",
]


def backbone_file(backbone: str | os.PathLike[str] | None) -> Path:
    """A backbone ONNX file as given, or the provisioned file of a backbone name."""
    if backbone is not None and str(backbone).endswith(".onnx") and Path(backbone).is_file():
        return Path(backbone)
    from training.backbones.provision import provision

    return provision(None if backbone is None else str(backbone), log=print)


def _backbone_info(extractor: FeatureExtractor) -> JsonObject:
    info = extractor.metadata.backbone
    return {
        "name": info.name,
        "weights_sha256": info.weights_sha256,
        "feature_dim": int(info.feature_dim),
        "preprocess": extractor.spec.to_dict(),
    }


def write_features(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    engine: str = "local",
    master: str | None = DEFAULT_MASTER,
    backbone: str | os.PathLike[str] | None = None,
    min_side: int = MIN_IMAGE_SIDE,
    workers: int | None = None,
    progress: bool | None = None,
) -> Manifest:
    """Write the features table of ``data_dir`` into the new folder ``out_dir``.

    ``backbone``: a registry name (default backbone when None) or a backbone ONNX file.
    ``master``: Spark master for ``engine="spark"`` (None: the one spark-submit or the
    cluster configured, else local[2]); ``data_dir`` may then be a URI (abfss://...).
    ``workers``/``progress``: the local engine's processes and progress bar.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    started = time.perf_counter()
    out = prepare_out_dir(out_dir)
    onnx_path = backbone_file(backbone)
    if engine == "local":
        from training.data.features_table.local import write_local

        extractor = FeatureExtractor(onnx_path)
        layout, rows, seconds = write_local(
            Path(data_dir), out, extractor, min_side=min_side, workers=workers, progress=progress
        )
    else:
        from training.data.features_table.spark import write_spark

        extractor = FeatureExtractor(onnx_path, threads=1)
        layout, rows, seconds = write_spark(
            str(data_dir), out, onnx_path, extractor, min_side=min_side, master=master
        )
    seconds["total"] = time.perf_counter() - started
    manifest = Manifest(
        engine=engine,
        data_dir=str(data_dir),
        backbone=_backbone_info(extractor),
        min_side=min_side,
        class_names=layout.class_names,
        user_splits=layout.user_splits,
        layout_fatal=layout.fatal,
        rows=rows,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )
    # Last: a manifest marks the table complete.
    atomic_write(out / MANIFEST, json.dumps(manifest.to_json(), indent=2, ensure_ascii=False))
    return manifest


def read_rows(features_dir: str | os.PathLike[str], columns: list[str] | None = None) -> list[dict]:
    """The table's rows as dicts, sorted by path (checks the manifest first); a damaged
    part raises :class:`FeaturesError` naming its file."""
    Manifest.read(features_dir)
    columns = None if columns is None else ["path", *(c for c in columns if c != "path")]
    rows = Path(features_dir) / ROWS
    try:
        table = ds.dataset(rows, format="parquet").to_table(columns=columns)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise _damaged(features_dir, rows, columns) from exc
    return sorted(table.to_pylist(), key=lambda r: r["path"])


def _damaged(
    features_dir: str | os.PathLike[str], rows: Path, columns: list[str] | None
) -> FeaturesError:
    """The error naming the first part of ``rows`` that cannot be read whole."""
    culprit: Path = rows
    for part in sorted(rows.glob("*.parquet")) if rows.is_dir() else []:
        try:
            pq.read_table(part, columns=columns)
        except (OSError, ValueError, pa.ArrowException):
            culprit = part
            break
    return FeaturesError(
        f"{culprit} cannot be read (damaged, cut short, or not an isit features table). "
        f"Compute the features again: `isit features DATA --out NEW_FOLDER`, then use "
        f"NEW_FOLDER instead of {features_dir}."
    )


def layout_order(path: str) -> tuple[tuple[int, str], ...]:
    """Sort key giving scan_layout's order: per folder its files, then its sub-folders."""
    parts = path.split("/")
    return (*((1, p) for p in parts[:-1]), (0, parts[-1]))


def check_inputs(
    features_dir: str | os.PathLike[str], min_side: int = MIN_IMAGE_SIDE
) -> tuple[Layout, list[Fingerprint | Unreadable], Manifest]:
    """What ``check_dataset`` would find by decoding, read from the table instead."""
    manifest = Manifest.read(features_dir)
    if min_side != manifest.min_side:
        raise ValueError(
            f"the features in {features_dir} were computed with --min-side "
            f"{manifest.min_side}, not {min_side}; recompute them with `isit features "
            f"--min-side {min_side}` or check with --min-side {manifest.min_side}"
        )
    rows = read_rows(features_dir, _CHECK_COLUMNS)
    layout = Layout(
        class_names=list(manifest.class_names),
        user_splits=list(manifest.user_splits),
        fatal=list(manifest.layout_fatal),
    )
    candidates = sorted(
        (r for r in rows if r["label"] is not None), key=lambda r: layout_order(r["path"])
    )
    layout.candidates = [Candidate(r["path"], r["label"], r["user_split"]) for r in candidates]
    layout.ignored = [
        (r["path"], r["problem_kind"], r["problem_reason"]) for r in rows if r["label"] is None
    ]
    return layout, [row_fingerprint(r) for r in candidates], manifest


_CHECK_COLUMNS = [n for n in SCHEMA.names if n != "features"]  # all but the big one


def feature_preset(
    features_dir: str | os.PathLike[str],
    backbone: str | FeatureExtractor | None = None,
) -> dict[str, np.ndarray]:
    """``sha256 -> float32[D]`` features of every usable file, for ``FeatureCache(preset=)``.

    Raises FeaturesMismatch when the table was computed with another backbone (name,
    weights or preprocessing) than ``backbone`` (a name, an extractor, None: the default).
    """
    manifest = Manifest.read(features_dir)
    if isinstance(backbone, FeatureExtractor):
        wanted = _backbone_info(backbone)
    else:
        bdef = get_backbone(backbone)
        wanted = {
            "name": bdef.name,
            "weights_sha256": bdef.weights_sha256,
            "feature_dim": bdef.feature_dim,
            "preprocess": bdef.spec.to_dict(),
        }
    if manifest.backbone != wanted:
        raise FeaturesMismatch(
            f"The features in {features_dir} come from backbone {manifest.backbone['name']} "
            f"(weights {manifest.backbone['weights_sha256'][:12]}), not {wanted['name']} "
            f"(weights {wanted['weights_sha256'][:12]}). Recompute them with "
            f"`isit features DATA --backbone {wanted['name']} --out NEW_FOLDER`."
        )
    rows = read_rows(features_dir, ["sha256", "features"])
    return {
        r["sha256"]: np.asarray(r["features"], np.float32)
        for r in rows
        if r["features"] is not None
    }
