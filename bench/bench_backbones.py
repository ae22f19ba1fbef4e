"""Backbones on the hard folders: accuracy (grouped CV), one-core latency, model size.

    .venv/bin/python bench/hardsets.py            # once: builds /tmp/isit-hard/*
    .venv/bin/python -m bench.bench_backbones [--backbones ...] [--folders ...] [--runs 30]

For each backbone (and the concatenation of two backbones' features, ``a+b``): the new
head (training/model/head.py) and, as a check, tuned logistic regression, by stratified group
5-fold CV on each hard folder (bench_heads.py's folds and heads), accuracy with n and a
Wilson 95% interval; the backbone ONNX's size on disk and its median latency for one
image on ONE core (onnxruntime, intra_op_num_threads=1, best of 5 interleaved rounds;
``a+b`` = the sum: one graph running both). The head adds 1280 x classes floats
(~20 KB): negligible. Also ``vader_elsa->shifted`` (if /work/shared is there): grouped
5-fold over the vader_elsa originals, each head answering the re-styled copies
(bench/hardsets.py) of its held-out originals: in-class photos "from elsewhere".
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench import bench_heads, bench_unknown, hardlib

DEFAULT_BACKBONES = ("mobilenet_v2", "efficientnet_lite0", "efficientnet_lite2")
DEFAULT_CONCAT = ("mobilenet_v2+efficientnet_lite0",)


def _session(backbone: str):
    import onnxruntime as ort

    from training.backbones.provision import provision
    from training.backbones.registry import get_backbone

    path = provision(backbone)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    size = get_backbone(backbone).spec.size
    image = np.random.default_rng(0).normal(0, 1, (1, size, size, 3)).astype(np.float32)
    feed = {session.get_inputs()[0].name: image}
    return (lambda: session.run(None, feed)), path.stat().st_size / 1e6


def latency(backbones: list[str], runs: int, rounds: int = 5) -> dict[str, tuple[float, float]]:
    """backbone -> (ms for one preprocessed image on one core, file size MB).

    The machine is shared: the backbones take turns (``rounds`` rounds of ``runs``
    runs each) and each one's best round median is kept, so a busy moment does not
    count against one backbone only.
    """
    sessions = {b: _session(b) for b in backbones}
    best = {b: float("inf") for b in backbones}
    for run, _ in sessions.values():
        for _ in range(3):
            run()
    for _ in range(rounds):
        for b, (run, _) in sessions.items():
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                run()
                times.append((time.perf_counter() - start) * 1000)
            best[b] = min(best[b], statistics.median(times))
    return {b: (best[b], sessions[b][1]) for b in backbones}


def shifted_accuracy(fit, x, xs, folder) -> tuple[int, int]:
    """Train on the originals of 4 folds, answer the re-styled copies of the 5th."""
    correct = 0
    for train_idx, held_idx in hardlib.outer_splits(folder.y, folder.groups):
        predict = fit(x[train_idx], folder.y[train_idx], folder.groups[train_idx],
                      len(folder.labels))  # fmt: skip
        correct += int((predict(xs[held_idx]).argmax(axis=1) == folder.y[held_idx]).sum())
    return correct, len(folder.y)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbones", nargs="+", default=list(DEFAULT_BACKBONES))
    parser.add_argument("--concat", nargs="*", default=list(DEFAULT_CONCAT))
    parser.add_argument("--folders", nargs="+", default=list(hardlib.HARD_FOLDERS))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-shifted", action="store_true", help="skip vader_elsa->shifted")
    args = parser.parse_args()
    folders = [hardlib.load_folder(hardlib.HARD_ROOT / f) for f in args.folders
               if (hardlib.HARD_ROOT / f).is_dir()]  # fmt: skip
    import keras  # noqa: F401  (imported before timing)

    shifted = None
    if (
        not args.no_shifted
        and bench_unknown.IN_DIST.is_dir()
        and (hardlib.HARD_ROOT / bench_unknown.SHIFTED_SETS["restyled"]).is_dir()
    ):
        originals = hardlib.load_folder(bench_unknown.IN_DIST)
        shifted = (originals, bench_unknown.shifted_paths(originals, "restyled"))

    if not folders and shifted is None:
        print(f"skipped: no hard folders under {hardlib.HARD_ROOT} (run bench/hardsets.py)")
        return 0
    combos = [*args.backbones, *args.concat]
    speed = latency(sorted({p for c in combos for p in c.split("+")}), args.runs)
    rows = []
    for combo in combos:
        parts = combo.split("+")
        ms = sum(speed[p][0] for p in parts)
        mb = sum(speed[p][1] for p in parts)
        if shifted is not None:
            x = np.concatenate([hardlib.features(shifted[0].paths, p) for p in parts], axis=1)
            xs = np.concatenate([hardlib.features(shifted[1], p) for p in parts], axis=1)
            for head, fit in (("new", bench_heads.fit_new),
                              ("logreg-cv", bench_heads.fit_logreg_cv)):  # fmt: skip
                k, n = shifted_accuracy(fit, x, xs, shifted[0])
                rows.append([combo, "vader_elsa->shifted", head, hardlib.proportion(k, n),
                             f"{ms:.1f}", f"{mb:.1f}"])  # fmt: skip
                print(" | ".join(rows[-1]), flush=True)
        for folder in folders:
            x = np.concatenate([hardlib.features(folder.paths, p) for p in parts], axis=1)
            for head, fit in (("new", bench_heads.fit_new),
                              ("logreg-cv", bench_heads.fit_logreg_cv)):  # fmt: skip
                k, n, _ = bench_heads.evaluate(fit, x, folder.y, folder.groups, len(folder.labels))
                rows.append([combo, folder.name, head, hardlib.proportion(k, n),
                             f"{ms:.1f}", f"{mb:.1f}"])  # fmt: skip
                print(" | ".join(rows[-1]), flush=True)
    print("\ngrouped stratified 5-fold CV accuracy (Wilson 95%); latency: one image, one core")
    header = ["backbone", "folder", "head", "accuracy (95% CI) n", "ms/image", "MB"]
    print(hardlib.table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
