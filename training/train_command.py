"""`python -m training train DATA_DIR --out OUT_DIR`: check, featurise, train, evaluate, export.

Also the Python API :func:`train` (used by the demo, the benchmarks and the tests).
Steps, each timed (metrics.json ``timings``): dataset check -> backbone -> cached
features -> Keras head -> unknown threshold -> held-out evaluation -> one ONNX file
-> ONNX/Keras parity on the test images -> metrics.json and report.html.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from isit.errors import IsitError
from isit.imaging import read_image_bytes
from isit.metadata import ModelMetadata, UnknownSpec
from training import unknown as ood
from training.evaluation import classification_metrics
from training.feature_cache import Entry, FeatureCache, sha256_bytes
from training.head import HeadConfig, HeadTrainer, predict_proba, train_head
from training.report import HeldOut, Probes, ReportInput, write_metrics, write_report
from training.settings import TrainConfig
from training.train_data import DatasetError, Sample, TrainingData, load_training_data

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_BACKBONE = "mobilenet_v2"
CV_FOLDS = 5


@dataclass
class TrainResult:
    model_path: Path
    metrics_path: Path
    report_path: Path
    metrics: dict[str, Any]
    labels: list[str]
    threshold: float
    cache_hits: int
    cache_computed: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 3)


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _entries(samples: list[Sample], view: int = 0) -> list[Entry]:
    return [Entry(s.sha256, s.path, view) for s in samples]


def _oof_probabilities(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_classes: int,
    config: HeadConfig,
    folds: int = CV_FOLDS,
    x_aug: np.ndarray | None = None,
    y_aug_index: np.ndarray | None = None,
) -> np.ndarray:
    """Out-of-fold probabilities by grouped, stratified k-fold.

    Duplicates share a group, so no image is scored by a head that saw its twin. Each
    fold's head stops early on a grouped slice of its own training part.
    """
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    folds = max(2, min(folds, int(np.bincount(y).min())))
    probabilities = np.zeros((len(y), n_classes), dtype=np.float32)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    trainer = HeadTrainer(x.shape[1], n_classes, config)
    for train_idx, held_idx in splitter.split(x, y, groups):
        inner = GroupShuffleSplit(n_splits=1, test_size=0.15, random_state=config.seed)
        fit_rel, stop_rel = next(inner.split(train_idx, y[train_idx], groups[train_idx]))
        fit_idx, stop_idx = train_idx[fit_rel], train_idx[stop_rel]
        x_fit, y_fit = x[fit_idx], y[fit_idx]
        if x_aug is not None and y_aug_index is not None and len(x_aug):
            keep = np.isin(y_aug_index, fit_idx)
            x_fit = np.concatenate([x_fit, x_aug[keep]])
            y_fit = np.concatenate([y_fit, y[y_aug_index[keep]]])
        head = trainer.fit(x_fit, y_fit, x[stop_idx], y[stop_idx]).model
        probabilities[held_idx] = predict_proba(head, x[held_idx])
    return probabilities


def train(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    config: TrainConfig | None = None,
    quiet: bool = False,
    progress: bool | None = None,
) -> TrainResult:
    """Train a classifier on ``data_dir`` and write model.onnx, metrics.json, report.html.

    ``progress``: None shows progress bars only when stderr is a terminal; ``quiet``
    also silences the dataset summary.

    Raises :class:`training.train_data.DatasetError` (with the dataset check's messages)
    when the folder has fatal problems, and other :class:`isit.errors.IsitError` s.
    """
    config = config or TrainConfig()
    backbone, epochs, seed, augment, hidden = (
        config.backbone, config.epochs, config.seed, config.augment, config.hidden
    )
    include_conflicts, name, probes = config.include_conflicts, config.name, config.probes
    started = time.perf_counter()
    timer = _Timer()
    out = Path(out_dir)
    head_config = HeadConfig(epochs=epochs, seed=seed, hidden=hidden)
    from isit.features import FeatureExtractor
    from training.backbones.provision import provision
    from training.backbones.registry import get_backbone

    backbone_def = get_backbone(backbone)  # an unknown name fails before any work

    with timer.step("check"):
        data: TrainingData = load_training_data(
            data_dir, include_conflicts=include_conflicts, progress=False if quiet else progress
        )
    labels = data.labels
    n_classes = len(labels)
    negative_labels = tuple(label for label in labels if label.lower() in ood.NEGATIVE_LABELS)
    negative_idx = [labels.index(label) for label in negative_labels]
    _say(data.summary, quiet)

    with timer.step("backbone"):
        extractor = FeatureExtractor(provision(backbone, log=lambda m: _say(m, quiet)))
    cache = FeatureCache(extractor, progress=False if quiet else progress)
    spec = extractor.spec

    with timer.step("features"):
        x_train = cache.get(_entries(data.train), "train features")
        x_val = cache.get(_entries(data.val), "validation features")
        x_test = cache.get(_entries(data.test), "test features")
        aug_samples = [s for s in data.train for _ in range(augment)]
        aug_views = [k for _ in data.train for k in range(1, augment + 1)]
        x_aug = cache.get(
            [Entry(s.sha256, s.path, k) for s, k in zip(aug_samples, aug_views, strict=True)],
            f"augmented views (x{augment})",
        )
        probe_items = ood.probe_images() if probes else []
        x_probe = cache.get(
            [Entry(sha256_bytes(b), b) for _, b in probe_items], "unknown-photo probes"
        )

    def label_indices(samples: list) -> np.ndarray:
        return np.array([labels.index(s.label) for s in samples], dtype=np.int64)

    y_train, y_val, y_test = map(label_indices, (data.train, data.val, data.test))
    y_aug = label_indices(aug_samples)

    cross_validated = data.cross_validate
    with timer.step("import tensorflow"):
        import keras  # noqa: F401  (timed on its own: seconds, and not the head's fault)

    with timer.step("head"):
        result = train_head(
            np.concatenate([x_train, x_aug]) if augment else x_train,
            np.concatenate([y_train, y_aug]) if augment else y_train,
            x_val,
            y_val,
            n_classes,
            head_config,
        )
        head = result.model
        centroids = ood.class_centroids(x_train, y_train, n_classes)

    with timer.step("unknown"):
        # Threshold: out-of-fold distances of the train + validation photos, each scored
        # against centroids that never saw it; at least 95% of them are accepted.
        calibration = ood.out_of_fold_scores(
            np.concatenate([x_train, x_val]),
            np.concatenate([y_train, y_val]),
            np.array([s.group for s in data.train + data.val]),
            n_classes,
            seed=seed,
        )
        threshold = ood.choose_threshold(calibration)
        # Acceptance is measured on the test photos, which took no part in choosing it.
        test_p = predict_proba(head, x_test)
        test_scores = ood.ood_scores(x_test, centroids)
        test_unknown = ood.is_unknown(test_p, test_scores, threshold, negative_idx)
        positive = ~np.isin(y_test, negative_idx)  # negatives are not "in distribution"
        accepted = float((~test_unknown[positive]).mean()) if positive.any() else 0.0
        probe_p = predict_proba(head, x_probe)
        probe_scores = ood.ood_scores(x_probe, centroids)
        probe_rejected = ood.is_unknown(probe_p, probe_scores, threshold, negative_idx)

    with timer.step("evaluate"):
        if cross_validated:
            # Too few photos for a trustworthy test split: the numbers come from
            # out-of-fold predictions over all photos, duplicates grouped.
            held_samples = data.train + data.val + data.test
            y_held = np.concatenate([y_train, y_val, y_test])
            x_held = np.concatenate([x_train, x_val, x_test])
            groups = np.array([s.group for s in held_samples])
            aug_index = np.array(
                [i for i in range(len(data.train)) for _ in range(augment)], dtype=np.int64
            )
            held_p = _oof_probabilities(
                x_held, y_held, groups, n_classes, head_config, x_aug=x_aug, y_aug_index=aug_index
            )
            held_scores = ood.out_of_fold_scores(x_held, y_held, groups, n_classes, seed=seed)
            evaluation_kind = f"{CV_FOLDS}-fold cross-validation, duplicates grouped"
        else:
            held_samples, y_held, held_p, held_scores = data.test, y_test, test_p, test_scores
            evaluation_kind = "test split"
        test_metrics = classification_metrics(y_held, held_p, labels)
        held_unknown = ood.is_unknown(held_p, held_scores, threshold, negative_idx)
    unknown_metrics = {
        "threshold": threshold,
        "method": ood.METHOD,
        "in_distribution_accepted": accepted,
        "in_distribution_n": int(positive.sum()),
        "probe_rejected": float(probe_rejected.mean()) if len(probe_rejected) else 0.0,
        "probe_n": len(probe_items),
        "negative_labels": list(negative_labels),
        "calibration_n": len(calibration),
    }

    metadata = ModelMetadata(
        kind="classifier",
        name=name or Path(data_dir).resolve().name or "isit-model",
        version=time.strftime("%Y%m%d-%H%M%S"),
        preprocess=spec,
        backbone=extractor.metadata.backbone,  # what the features came from
        labels=tuple(labels),
        unknown=UnknownSpec(
            threshold=threshold, method=ood.METHOD, negative_labels=negative_labels
        ),
        metrics={
            "accuracy": test_metrics["accuracy"],
            "n": test_metrics["n"],
            "evaluation": evaluation_kind,
            "in_distribution_accepted": accepted,
            "probe_rejected": unknown_metrics["probe_rejected"],
        },
    )

    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "model.onnx"
    with timer.step("export"):
        from training.export_model import check_parity, export

        # The provisioned backbone ONNX (the features came from it) + the converted head.
        export(extractor.path, head, centroids, metadata, model_path)
    with timer.step("parity"):
        # The served file, on the test photos' bytes, must give what the evaluation got
        # from their cached features (with cross-validation, every photo is held out).
        parity_samples, x_parity = next(
            (s, x) for s, x in ((data.test, x_test), (data.val, x_val), (data.train, x_train)) if s
        )
        parity_samples, x_parity = parity_samples[:64], x_parity[:64]
        parity = check_parity(
            model_path,
            [read_image_bytes(s.path) for s in parity_samples],
            predict_proba(head, x_parity),
            ood.ood_scores(x_parity, centroids),
        )

    seconds = round(time.perf_counter() - started, 3)
    metrics: dict[str, Any] = {
        "test": test_metrics,
        "evaluation": evaluation_kind,
        "unknown": unknown_metrics,
        "split": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "labels": labels,
        "backbone": backbone_def.name,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "augment": augment,
        "seed": seed,
        "parity": parity,
        "cache": {"hits": cache.hits, "computed": cache.computed},
        "train_seconds": seconds,
        "timings": timer.timings,
        "warnings": data.warnings,
    }
    metrics_path = out / "metrics.json"
    with timer.step("report"):
        write_metrics(metrics_path, metrics)
        report_path = write_report(
            ReportInput(
                title=f"isit model “{metadata.name}” — {backbone_def.name}",
                labels=labels,
                metrics=metrics,
                held_out=HeldOut(
                    names=[s.relative for s in held_samples],
                    sources=[s.path for s in held_samples],
                    y_true=y_held,
                    probabilities=held_p,
                    ood=held_scores,
                    unknown=held_unknown,
                ),
                evaluation_kind=evaluation_kind,
                history=result.history,
                warnings=data.warnings,
                probes=Probes.of(probe_items, probe_scores, probe_rejected),
                threshold=threshold,
                facts={
                    "photos (train / validation / test)": (
                        f"{len(data.train)} / {len(data.val)} / {len(data.test)}"
                    ),
                    "classes": ", ".join(labels),
                    "backbone": backbone_def.name,
                    "epochs (best)": f"{result.epochs_run} ({result.best_epoch})",
                    "augmented views per photo": str(augment),
                    "training time": f"{seconds:.1f} s",
                },
            ),
            out / "report.html",
        )
    # Rewrite with the report step's time included.
    metrics["timings"] = timer.timings
    write_metrics(metrics_path, metrics)
    return TrainResult(
        model_path=model_path,
        metrics_path=metrics_path,
        report_path=report_path,
        metrics=metrics,
        labels=labels,
        threshold=threshold,
        cache_hits=cache.hits,
        cache_computed=cache.computed,
        seconds=seconds,
        timings=timer.timings,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder per class")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="where to write the model")
    parser.add_argument(
        "--backbone",
        default=DEFAULT_BACKBONE,
        help="mobilenet_v2 (default), efficientnet_lite0 or keras:<name>",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--epochs", type=int, default=60, help="maximum epochs (default 60)")
    parser.add_argument(
        "--augment", type=int, default=0, metavar="K", help="K cached augmented views per photo"
    )
    parser.add_argument(
        "--hidden", type=int, default=0, metavar="UNITS", help="add a hidden layer of UNITS"
    )
    parser.add_argument(
        "--name", help="the model's name, shown by the API (default: the folder's name)"
    )
    parser.add_argument(
        "--include-conflicts",
        action="store_true",
        help="also train on images that appear in more than one class folder",
    )


def run(args: argparse.Namespace) -> int:
    if args.epochs < 1:
        print("error: --epochs must be at least 1", file=sys.stderr)
        return 2
    if args.augment < 0:
        print("error: --augment must be 0 or more", file=sys.stderr)
        return 2
    try:
        result = train(
            args.data_dir,
            args.out,
            config=TrainConfig(
                backbone=args.backbone,
                epochs=args.epochs,
                seed=args.seed,
                augment=args.augment,
                hidden=args.hidden,
                include_conflicts=args.include_conflicts,
                name=args.name,
            ),
        )
    except DatasetError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    except IsitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    test = result.metrics["test"]
    unknown = result.metrics["unknown"]
    print(
        f"accuracy {test['accuracy']:.3f} on {test['n']} held-out photos "
        f"({result.metrics['evaluation']}); unknown threshold {unknown['threshold']:.4f}: "
        f"{unknown['in_distribution_accepted']:.1%} of held-out photos accepted, "
        f"{unknown['probe_rejected']:.1%} of {unknown['probe_n']} unrelated photos rejected"
    )
    print(f"model:   {result.model_path}")
    print(f"metrics: {result.metrics_path}")
    print(f"report:  {result.report_path}")
    print(
        f"({result.seconds:.1f} s; features: {result.cache_hits} cached, "
        f"{result.cache_computed} computed)"
    )
    return 0
