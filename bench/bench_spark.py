"""Benchmark `isit features`: photos/s of the local engine and of Spark local[2].

A generated folder of ~5,000 small photos (240x180 JPEG, 4 classes) through the default
backbone (MobileNetV2, provisioned once). Prints photos/s, the time split (decode,
backbone, hashing, write), the per-core throughput Spark measured, and a PROJECTION of it
to 1M photos on N cores (a projection: per-core rate x cores, no cluster was measured).
Both tables are also compared (features within 1e-5, the same problems and hashes).

Run: .venv/bin/python -m bench.bench_spark [PHOTOS]   (needs Java 17+, requirements-spark.txt)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from tests.helpers.synthetic import write_photos  # noqa: E402
from training.backbones.provision import provision  # noqa: E402
from training.data.features_table import read_rows, write_features  # noqa: E402

CLASSES = ("a", "b", "c", "d")


def generate(root: Path, total: int) -> Path:
    for n, label in enumerate(CLASSES):
        write_photos(root / label, total // len(CLASSES), seed=500 + n)
    return root


def compare(local: Path, spark: Path) -> float:
    a, b = read_rows(local), read_rows(spark)
    assert [r["path"] for r in a] == [r["path"] for r in b]
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        assert (x["sha256"], x["phashes"], x["problem_kind"]) == (
            y["sha256"],
            y["phashes"],
            y["problem_kind"],
        )
        if x["features"] is not None:
            worst = max(worst, float(np.abs(np.subtract(x["features"], y["features"])).max()))
    return worst


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    backbone = provision(log=print)
    work = Path(tempfile.mkdtemp(prefix="isit-bench-spark-"))
    os.environ["ISIT_CACHE_DIR"] = str(work / "cache")  # the local engine computes everything
    start = time.perf_counter()
    data = generate(work / "data", total)
    print(f"generated {total} photos in {time.perf_counter() - start:.0f} s under {work}")
    local = write_features(data, work / "local", backbone=backbone, progress=False)
    spark = write_features(data, work / "spark", engine="spark", backbone=backbone)
    worst = compare(work / "local", work / "spark")
    ls, ss = local.seconds, spark.seconds
    print(f"\n{'engine':<14} {'photos/s':>9} {'wall s':>7}  time split")
    print(
        f"{'local':<14} {total / ls['total']:>9.1f} {ls['total']:>7.1f}  "
        f"decode+hashing {ls['decode+hashing']:.1f} s (check pass, worker processes), "
        f"decode+backbone {ls['decode+backbone']:.1f} s, write {ls['write']:.1f} s"
    )
    busy = sum(ss[f"{s}_task_seconds"] for s in ("decode", "hashing", "backbone"))
    print(
        f"{'spark local[2]':<14} {total / ss['total']:>9.1f} {ss['total']:>7.1f}  "
        f"job {ss['spark_job']:.1f} s (incl. session start, write); task seconds summed "
        f"over cores: decode {ss['decode_task_seconds']:.1f}, hashing "
        f"{ss['hashing_task_seconds']:.1f}, backbone {ss['backbone_task_seconds']:.1f}"
    )
    per_core = total / busy
    print(f"\nlargest feature difference local vs spark: {worst:.2e} (same hashes, problems)")
    print(f"Spark per-core throughput (decode+hashing+backbone only): {per_core:.1f} photos/s")
    print("PROJECTION to 1,000,000 photos (per-core rate x cores; I/O and start-up not included):")
    for cores in (8, 32, 128):
        print(f"  {cores:>4} cores: ~{1e6 / (per_core * cores) / 60:.0f} min")


if __name__ == "__main__":
    main()
