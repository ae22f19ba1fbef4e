"""What the nearest-photo unknown score costs model.onnx: file size and latency (issue 22).

    .venv/bin/python -m bench.bench_unknown_cost [--runs 200] [--backbone efficientnet_lite0]

The same backbone and linear head, exported with the unknown reference of 2 rows (the
class centroids before issue 22: the same nodes, one row per class), of 500 training
photos (a 500-photo folder) and of the cap (training.model.unknown.REFERENCE_CAP rows,
any larger folder). Latency: one real photo, bytes to answer through the core
(``ModelBundle.predict``) on one onnxruntime thread; the models take turns, run by
run, so a busy machine slows all of them alike; medians and ratios to the 2-row model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_backbone import sample_image  # noqa: E402


def export_with(rows: int, backbone: str, folder: Path) -> Path:
    """model.onnx whose unknown reference has ``rows`` unit rows (random directions)."""
    from isit.feature_extractor import FeatureExtractor
    from isit.metadata import ModelMetadata, UnknownSpec
    from training.backbones.provision import provision
    from training.model import unknown
    from training.model.graph import export
    from training.model.head import fit_linear

    path = provision(backbone)
    backbone_meta = FeatureExtractor(path).metadata
    dim = backbone_meta.backbone.feature_dim
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(0, 1, (max(rows, 8), dim))).astype(np.float32)
    y = np.arange(len(x)) % 2
    head = fit_linear(x, y, 2, c=0.1)
    reference = unknown.embed(x[:rows]).astype(np.float16)
    metadata = ModelMetadata(
        kind="classifier", name="cost", version="1", preprocess=backbone_meta.preprocess,
        backbone=backbone_meta.backbone, labels=("a", "b"),
        unknown=UnknownSpec(threshold=0.3, method=unknown.METHOD),
    )  # fmt: skip
    return export(path, head, reference, metadata, folder / f"model-{rows}.onnx")


def main() -> int:
    from isit.bundle import ModelBundle
    from training.model.unknown import REFERENCE_CAP

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    args = parser.parse_args()
    name, photo = sample_image()
    sizes = (2, 500, REFERENCE_CAP)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: export_with(n, args.backbone, Path(tmp)) for n in sizes}
        bundles = {n: ModelBundle(p, threads=1) for n, p in paths.items()}
        times: dict[int, list[float]] = {n: [] for n in sizes}
        for run in range(args.runs + 10):
            for n, bundle in bundles.items():
                start = time.perf_counter()
                bundle.predict(photo)
                if run >= 10:  # warm-up
                    times[n].append((time.perf_counter() - start) * 1000)
        megabytes = {n: p.stat().st_size / 1e6 for n, p in paths.items()}
    base_ms, base_mb = statistics.median(times[2]), megabytes[2]
    print(f"{args.backbone}, one thread, {args.runs} runs each, photo: {name}\n")
    print("| unknown reference | model.onnx MB | added MB | p50 ms | p50 / 2 rows |")
    print("| --- | --- | --- | --- | --- |")
    for n in sizes:
        label = {2: "2 rows (class centroids, before)", 500: "500 training photos",
                 REFERENCE_CAP: f"{REFERENCE_CAP} rows (the cap)"}[n]  # fmt: skip
        p50 = statistics.median(times[n])
        print(f"| {label} | {megabytes[n]:.1f} | {megabytes[n] - base_mb:.2f} | "
              f"{p50:.1f} | {p50 / base_ms:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
