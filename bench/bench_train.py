"""`train` speed and honesty on real photos: cold vs warm cache, vs the usual Keras way.

    .venv/bin/python -m bench.bench_train [DATA_DIR] [--baseline-epochs 3]

DATA_DIR defaults to ../shared/data/vader_elsa (482 photos, two classes). Prints:

1. `isit train` as a user runs it (a new process, TensorFlow import
   included): "first run" with a fresh, empty cache dir (provisions the backbone ONNX,
   a one-time step, and computes every feature); "cold" with the backbone provisioned but
   the feature cache emptied; "warm" with every feature cached; where the time goes.
2. A baseline: the same frozen backbone + the same head trained end to end with
   ``model.fit`` over decoded images (tf.data: read, decode, resize, normalise, every
   epoch - the usual Keras tutorial way) for the same number of epochs as our train ran.
   ``--baseline-epochs N`` measures N epochs and extrapolates (first epoch + (E-1) x
   the steady epoch time); ``--baseline-epochs 0`` runs all E.
3. Accuracy by 5-fold cross-validation (stratified, duplicates grouped: each group is one
   representative), and the test-split accuracy `train` reports.
Results also go to bench/results/bench_train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from training.tf_runtime import configure

ROOT = Path(__file__).resolve().parents[1]
configure()  # TensorFlow quiet, as in `isit train`

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "vader_elsa"


def isit_env(cache: Path, root: Path = ROOT) -> dict[str, str]:
    """The environment of an `isit` process running the code in ``root`` with ``cache``."""
    return {**os.environ, "ISIT_CACHE_DIR": str(cache), "PYTHONPATH": str(root)}


def run_train(
    data: Path, out: Path, cache: Path, extra: tuple = (), root: Path = ROOT
) -> tuple[float, dict]:
    """`isit train` in a new process, from the code in ``root`` (default: this tree)."""
    env = isit_env(cache, root)
    start = time.perf_counter()
    command = [sys.executable, "-m", "training", "train", str(data), "--out", str(out)]
    done = subprocess.run(
        [*command, "--seed", "0", *extra],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"train failed:\n{done.stderr[-3000:]}")
    return wall, json.loads((out / "metrics.json").read_text("utf-8"))


def baseline(data: Path, epochs: int, measure: int) -> dict:
    """Backbone + head trained end to end on decoded images with keras model.fit."""
    import keras
    import tensorflow as tf

    from training.backbones.registry import get_backbone
    from training.data.doctor import check_dataset
    from training.model.head import HeadConfig, build_head, class_weights

    report = check_dataset(data, progress=False)
    labels = report.labels
    train = report.split_images("train")
    val = report.split_images("val")
    bdef = get_backbone("mobilenet_v2")
    spec = bdef.spec
    backbone = bdef.build_keras()  # frozen
    head = build_head(bdef.feature_dim, len(labels), HeadConfig())
    image = keras.Input((spec.size, spec.size, 3))
    model = keras.Model(image, head(backbone(image, training=False)))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    mean = tf.constant(spec.mean, tf.float32)
    std = tf.constant(spec.std, tf.float32)

    y_train = np.array([labels.index(r.label) for r in train])
    weights = class_weights(y_train, len(labels))

    def load(path: tf.Tensor, label: tf.Tensor, weight: tf.Tensor) -> tuple:
        raw = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        raw.set_shape([None, None, 3])
        pixels = tf.image.resize(tf.cast(raw, tf.float32), (spec.size, spec.size))
        return (pixels - mean) / std, label, weight

    def dataset(records: list, shuffle: bool) -> tf.data.Dataset:
        paths = [str(data / r.path) for r in records]
        y = np.array([labels.index(r.label) for r in records], dtype=np.int64)
        w = np.array([weights[int(c)] for c in y], dtype=np.float32)
        ds = tf.data.Dataset.from_tensor_slices((paths, y, w))
        if shuffle:
            ds = ds.shuffle(len(paths), seed=0)
        return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(32).prefetch(2)

    run_epochs = epochs if measure <= 0 else min(measure, epochs)
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            times.append(time.perf_counter() - self.start)

    history = model.fit(
        dataset(train, True),
        validation_data=dataset(val, False),
        epochs=run_epochs,
        callbacks=[Clock()],
        shuffle=False,
        verbose=0,
    )
    steady = float(np.mean(times[1:])) if len(times) > 1 else times[0]
    total = times[0] + (epochs - 1) * steady
    return {
        "epochs": epochs,
        "epochs_measured": run_epochs,
        "first_epoch_s": round(times[0], 2),
        "steady_epoch_s": round(steady, 2),
        "total_s": round(total if run_epochs < epochs else sum(times), 1),
        "extrapolated": run_epochs < epochs,
        "val_accuracy_last": float(history.history["val_accuracy"][-1]),
    }


def cross_validation(data: Path, cache: Path) -> dict:
    """5-fold accuracy from the cached features, one representative per duplicate group."""
    os.environ["ISIT_CACHE_DIR"] = str(cache)
    from isit.feature_extractor import FeatureExtractor
    from training.backbones.provision import provision
    from training.data.doctor import check_dataset
    from training.data.feature_cache import Entry, FeatureCache
    from training.model.folds import grouped_folds
    from training.pipeline.crossvalidate import cross_validate
    from training.settings import TrainConfig

    report = check_dataset(data, progress=False)
    records = report.usable_images()
    labels = report.labels
    cache_ = FeatureCache(FeatureExtractor(provision("mobilenet_v2")), progress=False)
    x = cache_.get([Entry(r.sha256, data / r.path) for r in records])
    y = np.array([labels.index(r.label) for r in records])
    groups = np.array([r.group_key for r in records])
    config = TrainConfig(seed=0, folds=5)
    start = time.perf_counter()
    no_views = (np.zeros((0, x.shape[1]), np.float32), np.zeros(0, np.int64))
    probabilities = cross_validate(
        x, y, groups, len(labels), config, no_views, repeats=1
    ).probabilities
    seconds = time.perf_counter() - start
    correct = probabilities.argmax(axis=1) == y
    folds = [float(correct[held].mean()) for _, held in grouped_folds(y, groups, 5, config.seed)]
    return {
        "n": len(y),
        "duplicate_groups": len(report.duplicate_groups),
        "accuracy": float(correct.mean()),
        "fold_accuracies": [round(a, 4) for a in folds],
        "fold_std": float(np.std(folds)),
        "cache_computed": cache_.computed,
        "seconds": round(seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--baseline-epochs", type=int, default=3)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: no benchmark data at {args.data}")
        return 0
    results: dict = {"data": str(args.data), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="isit-bench-train-") as tmp:
        cache = Path(tmp) / "cache"
        first_wall, first = run_train(args.data, Path(tmp) / "first", cache)
        shutil.rmtree(cache / "features")
        cold_wall, cold = run_train(args.data, Path(tmp) / "cold", cache)
        warm_wall, warm = run_train(args.data, Path(tmp) / "warm", cache)
        results["first_run"] = {"wall_s": round(first_wall, 1), "timings": first["timings"]}
        results["cold"] = {"wall_s": round(cold_wall, 1), "timings": cold["timings"],
                           "cache": cold["cache"]}  # fmt: skip
        results["warm"] = {"wall_s": round(warm_wall, 1), "timings": warm["timings"],
                           "cache": warm["cache"]}  # fmt: skip
        results["best_guess"] = {
            "evaluation": warm["evaluation"],
            "n": warm["best_guess"]["n"],
            "accuracy": warm["best_guess"]["accuracy"],
            "ece": warm["best_guess"]["ece"],
            "split": warm["split"],
            "unknown": warm["unknown"],
        }
        results["cross_validation"] = cross_validation(args.data, cache)
        epochs = int(warm["epochs_run"])
        results["baseline"] = baseline(args.data, epochs, args.baseline_epochs)
    base = results["baseline"]["total_s"]
    results["speedup_vs_cold"] = round(base / cold_wall, 1)
    results["speedup_vs_warm"] = round(base / warm_wall, 1)

    def where(run: dict, wall: float) -> str:
        t = run["timings"]
        parts = ", ".join(f"{k} {v:.1f}" for k, v in t.items())
        return f"{parts}, process start + imports {wall - sum(t.values()):.1f}"

    print(f"data: {args.data} ({results['cross_validation']['n']} distinct photos)")
    print(f"train, first run:   {first_wall:6.1f} s  (empty cache)  [{where(first, first_wall)}]")
    print(f"train, cold cache:  {cold_wall:6.1f} s  (goal <= 60)   [{where(cold, cold_wall)}]")
    print(f"train, warm cache:  {warm_wall:6.1f} s  (goal <= 10)   [{where(warm, warm_wall)}]")
    cached = warm["cache"]
    print(f"  warm cache: {cached['hits']} features read, {cached['computed']} computed")
    b = results["baseline"]
    how = (f"measured {b['epochs_measured']} epochs, extrapolated" if b["extrapolated"]
           else "measured")  # fmt: skip
    print(
        f"baseline model.fit on decoded images, {b['epochs']} epochs: {b['total_s']:.1f} s "
        f"({how}; first epoch {b['first_epoch_s']} s, then {b['steady_epoch_s']} s/epoch)"
    )
    print(f"speedup: {results['speedup_vs_cold']}x vs cold train, "
          f"{results['speedup_vs_warm']}x vs warm train (goal >= 10x)")  # fmt: skip
    cv = results["cross_validation"]
    print(
        f"5-fold CV accuracy (duplicates grouped): {cv['accuracy']:.4f} on {cv['n']} photos "
        f"(folds {cv['fold_accuracies']}, std {cv['fold_std']:.4f})"
    )
    t = results["best_guess"]
    print(
        f"train's best-guess accuracy: {t['accuracy']:.4f} on {t['n']} photos "
        f"({t['evaluation']}; split {t['split']}); unknown: "
        f"{t['unknown']['in_distribution_accepted']:.3f} of held-out photos accepted, "
        f"{t['unknown']['probe_rejected']:.3f} of probes rejected"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_train.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
