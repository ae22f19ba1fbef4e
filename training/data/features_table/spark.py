"""The Spark engine: the files read by Spark's ``binaryFile`` source, rows made by executors.

Each executor's Python worker opens the backbone ONNX once (shipped with
``SparkContext.addFile``) and turns batches of files into rows with
:func:`training.data.features_table.compute.file_rows` inside ``mapInPandas`` (Arrow batches).
A file that cannot be decoded becomes a row with its problem; the job never fails on data.

Which files are photos of which class is decided on the driver: by ``scan_layout`` for a
local folder (exactly what the local engine and `check` see), from Spark's file listing
for a URI (abfss://, wasbs://, dbfs:/...). Spark's listing skips names starting with
``_`` or ``.`` and empty files: for a local folder these are computed (or reported) on the
driver instead; under a URI they are not in the table (Spark never shows them).
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow.dataset as ds

from isit.errors import ImageError
from isit.feature_extractor import FeatureExtractor
from isit.imaging import read_image_bytes
from training.data.doctor.file_hashes import fingerprint_file
from training.data.doctor.layout import SPLIT_FOLDERS, SYSTEM_NAMES, Candidate, Layout, scan_layout
from training.data.features_table.compute import STAGES, file_rows
from training.data.features_table.local import ignored_rows, write_part
from training.data.features_table.schema import (
    ROWS,
    SPARK_SCHEMA,
    TableRow,
    empty_row,
    fingerprint_row,
)

DEFAULT_MASTER = "local[2]"
ARROW_BATCH = 256  # files per Arrow batch handed to a worker: bounds its memory
_PROJECT = Path(__file__).resolve().parents[2]


def _is_uri(data_dir: str) -> bool:
    return "://" in data_dir or data_dir.startswith(("file:", "dbfs:"))


def _local_python() -> None:
    """Local masters: workers run this interpreter and import this checkout of isit."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(_PROJECT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(_PROJECT), *paths])


def spark_session(master: str | None = DEFAULT_MASTER, app_name: str = "isit-features"):
    """``(session, created)``: the active session if there is one, else a new one.

    ``master=None``: the master spark-submit or the cluster configured, else local[2].
    """
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    conf = SparkConf()
    # spark-submit and Databricks start Python with a gateway (and the master) set up.
    launched = any(k in os.environ for k in ("PYSPARK_GATEWAY_PORT", "DATABRICKS_RUNTIME_VERSION"))
    if master is None and not launched and not conf.contains("spark.master"):
        master = DEFAULT_MASTER
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    if (master or conf.get("spark.master", "")).startswith("local"):
        _local_python()
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode stays on loopback
        builder = (
            builder.config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
    session = (
        builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH))
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session, True


@cache
def _executor_extractor(name: str) -> FeatureExtractor:
    """The backbone, opened once per Python worker (workers are reused across tasks)."""
    from pyspark import SparkFiles

    return FeatureExtractor(SparkFiles.get(name), threads=1)


def _make_rows(onnx_name: str, min_side: int, accumulators: dict[str, Any]):
    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        extractor = _executor_extractor(onnx_name)
        for batch in batches:
            seconds: dict[str, float] = defaultdict(float)
            files = zip(
                batch["rel"], batch["label"], batch["user_split"], batch["content"], strict=True
            )
            rows = file_rows(
                [(p, lab, None if pd.isna(s) else s, bytes(d)) for p, lab, s, d in files],
                extractor,
                min_side,
                seconds,
            )
            for stage, value in seconds.items():
                accumulators[stage].add(value)
            yield pd.DataFrame(rows, columns=SPARK_COLUMNS)

    return run


SPARK_COLUMNS = [part.split()[0] for part in SPARK_SCHEMA.split(", ")]


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in SYSTEM_NAMES


def layout_from_paths(paths: list[str]) -> Layout:
    """The layout of a listing (relative paths) where folders cannot be walked (a URI).

    Follows scan_layout's rules for what Spark lists; empty class folders are invisible.
    """
    out = Layout()
    files = sorted(PurePosixPath(p) for p in paths)
    tops = {f.parts[0] for f in files if len(f.parts) > 1 and not _hidden(f.parts[0])}
    splits = {t for t in tops if t.lower() in SPLIT_FOLDERS}
    if splits and tops - splits:
        out.fatal.append(
            f"mixes split folders ({', '.join(sorted(splits))}) with class folders "
            f"({', '.join(sorted(tops - splits))}). Put every class folder inside train/."
        )
        return out
    depth = 2 if splits else 1
    by_split: dict[str | None, set[str]] = defaultdict(set)
    for f in files:
        if any(_hidden(part) for part in f.parts):
            out.ignored.append((str(f), "hidden", "Hidden or system file, skipped."))
        elif len(f.parts) <= depth:
            out.ignored.append((str(f), "outside_class_folder", "Not in a class folder, skipped."))
        else:
            split = SPLIT_FOLDERS[f.parts[0].lower()] if splits else None
            by_split[split].add(f.parts[depth - 1])
            out.candidates.append(Candidate(str(f), f.parts[depth - 1], split))
    out.class_names = sorted(set().union(*by_split.values())) if by_split else []
    out.user_splits = [s for s in ("train", "val", "test") if s in by_split and splits]
    if splits and any(names != set(out.class_names) for names in by_split.values()):
        out.fatal.append("The split folders disagree on class names: give each the same ones.")
    return out


def _listing(spark, data_dir: str) -> tuple[Layout, str, Path | None]:
    """The layout, the prefix Spark puts before relative paths, and the local root."""
    if not _is_uri(data_dir):
        root = Path(data_dir).resolve()
        return scan_layout(root), f"file:{root.as_posix()}/", root
    listed = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(data_dir)
    paths = [r.path for r in listed.select("path").collect()]
    # Spark lists fully qualified paths (file:///x is file:/x): qualify the root the same way.
    jvm, context = spark.sparkContext._jvm, spark.sparkContext._jsc
    root = jvm.org.apache.hadoop.fs.Path(data_dir)
    qualified = root.getFileSystem(context.hadoopConfiguration()).makeQualified(root)
    prefix = qualified.toString().rstrip("/") + "/"
    inside = [p[len(prefix) :] for p in paths if p.startswith(prefix)]
    return layout_from_paths(inside), prefix, None


def _driver_rows(
    missing: list[Candidate], root: Path | None, extractor: FeatureExtractor, min_side: int
) -> list[TableRow]:
    """Candidates Spark did not list (names starting with '_', empty files): done here."""
    rows = []
    for c in missing:
        row = empty_row(c.path, c.label, c.user_split)
        if root is None:
            rows.append(
                row
                | {
                    "problem_kind": "unreadable",
                    "problem_reason": "Spark does not read files whose names start with '_' "
                    "or '.'; rename the file to include it.",
                }
            )
            continue
        try:
            data = read_image_bytes(root / c.path)
        except (ImageError, OSError):  # the check's words for it
            rows.append(fingerprint_row(row, fingerprint_file(str(root / c.path), min_side)))
            continue
        rows += file_rows([(c.path, c.label, c.user_split, data)], extractor, min_side)
    return rows


def write_spark(
    data_dir: str,
    out_dir: Path,
    onnx_path: Path,
    extractor: FeatureExtractor,
    *,
    min_side: int,
    master: str | None,
) -> tuple[Layout, int, dict[str, float]]:
    """Write the table with Spark; returns the layout, the row count and timings."""
    from pyspark.sql import functions as F

    spark, created = spark_session(master)
    seconds: dict[str, float] = {}
    try:
        start = time.perf_counter()
        layout, prefix, root = _listing(spark, data_dir)
        seconds["listing"] = time.perf_counter() - start
        start = time.perf_counter()
        context = spark.sparkContext
        context.addFile(str(onnx_path))
        accumulators = {stage: context.accumulator(0.0) for stage in STAGES}
        candidates = spark.createDataFrame(
            [(c.path, c.label, c.user_split) for c in layout.candidates] or [("", "", None)],
            "rel string, label string, user_split string",
        )
        load = data_dir if _is_uri(data_dir) else str(root)
        files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(load)
        files = files.select(
            F.col("path").substr(len(prefix) + 1, 1 << 30).alias("rel"), "content"
        ).join(F.broadcast(candidates), "rel")
        rows = files.mapInPandas(_make_rows(onnx_path.name, min_side, accumulators), SPARK_SCHEMA)
        rows.write.option("compression", "zstd").parquet(str((out_dir / ROWS).resolve()))
        seconds["spark_job"] = time.perf_counter() - start
        for stage, acc in accumulators.items():
            seconds[f"{stage}_task_seconds"] = float(acc.value)
    finally:
        if created:
            spark.stop()
    start = time.perf_counter()
    written = set(
        ds.dataset(out_dir / ROWS, format="parquet").to_table(["path"])["path"].to_pylist()
    )
    missing = [c for c in layout.candidates if c.path not in written]
    extra = ignored_rows(layout) + _driver_rows(missing, root, extractor, min_side)
    if extra:
        write_part(extra, out_dir, "part-99999-driver.parquet")
    seconds["driver_rows"] = time.perf_counter() - start
    return layout, len(written) + len(extra), seconds
