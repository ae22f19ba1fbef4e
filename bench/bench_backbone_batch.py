"""Photos per onnxruntime run through a backbone: milliseconds per photo, one run.

    .venv/bin/python -m bench.bench_backbone_batch [--photos 128] [--backbones NAME ...]

For each backbone (default: the default one, provisioned into the isit cache once), the
same real photos (``../shared/data/vader_elsa`` when present, else generated ones),
decoded and normalised once, go through the backbone ONNX in batches of each size, with
one and with two onnxruntime threads (the machine's cores permitting). Prints ms per
photo (median of ``--repeats`` passes), each batch size against the batch of 32 used
before, and whether the features equal those of batches of 32 bit for bit. The winner
is ``training.settings.BACKBONE_BATCH``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from isit.feature_extractor import FeatureExtractor
from isit.imaging import decode, normalize, to_pixels
from training import settings
from training.pipeline.featurize import resolve_backbone

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "vader_elsa"
BATCHES = (1, 2, 4, 8, 16, 32, 64)
BEFORE = 32  # the batch every backbone run used before this benchmark


def photo_bytes(count: int) -> tuple[str, list[bytes]]:
    """``count`` real photos' bytes, and where they came from."""
    if SHARED.is_dir():
        paths = sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
        return str(SHARED), [p.read_bytes() for p in paths[:count]]
    from training.data.sampledata import generate

    where = generate(Path(tempfile.mkdtemp()) / "sample", per_class=count // 2 + 1, seed=3)
    paths = sorted(p for p in where.rglob("*") if p.is_file())
    return "generated sample photos", [p.read_bytes() for p in paths[:count]]


def pixels_of(extractor: FeatureExtractor, photos: list[bytes]) -> np.ndarray:
    spec = extractor.spec
    return np.stack(
        [normalize(to_pixels(decode(d, min_side=spec.size).image, spec), spec) for d in photos]
    )


def run_all(extractor: FeatureExtractor, x: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([extractor.run(x[i : i + batch]) for i in range(0, len(x), batch)])


def time_batches(path: Path, x: np.ndarray, threads: int, repeats: int) -> dict[int, tuple]:
    """``{batch: (ms per photo, features equal to batches of BEFORE)}``."""
    extractor = FeatureExtractor(path, threads)
    run_all(extractor, x[:8], 4)  # warm-up: the first run allocates
    reference = run_all(extractor, x, BEFORE)
    found = {}
    for batch in BATCHES:
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            features = run_all(extractor, x, batch)
            seconds.append(time.perf_counter() - start)
        found[batch] = (statistics.median(seconds) / len(x) * 1e3,
                        np.array_equal(features, reference))  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backbones", nargs="*", default=[settings.DEFAULT_BACKBONE])
    args = parser.parse_args()
    source, photos = photo_bytes(args.photos)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    print(f"{len(photos)} photos from {source}; {cores} cores; now BACKBONE_BATCH = "
          f"{settings.BACKBONE_BATCH}\n")  # fmt: skip
    print("| backbone | threads | batch | ms / photo | vs batch 32 | features = batch 32's |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.backbones:
        backbone = resolve_backbone(name, lambda line: print(line, file=sys.stderr))
        x = pixels_of(backbone.extractor, photos)
        for threads in sorted({1, min(2, cores)}):
            found = time_batches(backbone.path, x, threads, args.repeats)
            base = found[BEFORE][0]
            for batch, (ms, same) in found.items():
                print(f"| {name} | {threads} | {batch} | {ms:.2f} | {ms / base:.2f} | "
                      f"{'yes' if same else 'NO'} |")  # fmt: skip


if __name__ == "__main__":
    main()
