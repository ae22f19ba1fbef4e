"""Backbone ONNX size and single-image latency on ONE core, onnxruntime vs Keras.

    .venv/bin/python -m bench.bench_backbone [--runs 100] [--backbones mobilenet_v2 ...]

For each offline backbone: provisions it (once, into the isit cache), then times one
224x224 image through onnxruntime with intra_op_num_threads=1 (median and p95 of
``--runs`` runs after warm-up), the same through Keras/TensorFlow restricted to one
thread, and bytes -> features end to end (decode + resize + normalise + ORT).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from training.tf_runtime import configure

ROOT = Path(__file__).resolve().parents[1]
configure()  # TensorFlow quiet, as in `isit train`

SAMPLE_DIR = ROOT.parent / "shared" / "data" / "vader_elsa"


def sample_image() -> tuple[str, bytes]:
    """A real photo: the shared benchmark data if present, else scikit-image's cat."""
    if SAMPLE_DIR.is_dir():
        for path in sorted(SAMPLE_DIR.rglob("*")):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                return str(path.relative_to(ROOT.parent)), path.read_bytes()
    import io

    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buf, "JPEG")
    return "skimage chelsea (JPEG)", buf.getvalue()


def timed(fn: Callable[[], object], runs: int, warmup: int = 10) -> tuple[float, float]:
    """(median, p95) wall time in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, math.ceil(0.95 * len(times)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--backbones", nargs="*", default=None)
    args = parser.parse_args()

    import tensorflow as tf

    # One core for TensorFlow too, set before TF starts its thread pools.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from isit.feature_extractor import FeatureExtractor
    from isit.imaging import preprocess
    from training.backbones.provision import provision
    from training.backbones.registry import backbone_names, get_backbone

    names = args.backbones or [n for n in backbone_names() if get_backbone(n).offline]
    source, image = sample_image()
    print(f"sample image: {source} ({len(image) / 1e3:.0f} kB); runs: {args.runs}; "
          f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")  # fmt: skip
    header = (
        f"{'backbone':<20}{'onnx MB':>9}{'ORT med':>9}{'ORT p95':>9}"
        f"{'Keras med':>11}{'Keras p95':>11}{'bytes->feat med':>17}"
    )
    print(header + "   (milliseconds, 1 thread)")
    for name in names:
        bdef = get_backbone(name)
        path = provision(name)
        size_mb = path.stat().st_size / 1e6
        extractor = FeatureExtractor(path, threads=1)
        batch = preprocess(image, bdef.spec)[None]
        ort_med, ort_p95 = timed(lambda b=batch, e=extractor: e.run(b), args.runs)
        e2e_med, _ = timed(lambda e=extractor: e.from_bytes([image]), args.runs)

        model = bdef.build_keras()
        infer = tf.function(lambda x, m=model: m(x, training=False))
        tensor = tf.constant(batch)
        keras_med, keras_p95 = timed(lambda f=infer, t=tensor: f(t).numpy(), args.runs)
        diff = float(np.max(np.abs(np.asarray(infer(tensor)) - extractor.run(batch))))
        print(
            f"{name:<20}{size_mb:>9.1f}{ort_med:>9.2f}{ort_p95:>9.2f}"
            f"{keras_med:>11.2f}{keras_p95:>11.2f}{e2e_med:>17.2f}"
            f"   (Keras vs ORT max abs diff {diff:.1e})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
