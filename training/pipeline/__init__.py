"""`isit train` as a short sequence of named stages with a typed result between each:

    data (check) -> backbone -> features -> cross-validation (when the test split is
    small) -> head -> unknown -> evaluate -> review (likely label mistakes) -> export
    (+ parity) -> heatmaps (where it looked, shortcut warnings) -> outputs

Each stage is a plain function in its own module (``training.pipeline.<stage>``), timed
by one wrapper (metrics.json ``timings``). The CLI calls :func:`train` (imported
lazily); stages never import the CLI. TensorFlow is imported only for a hidden-layer
head (or to provision a backbone), never on the default path.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.evaluation.report import write_metrics
from training.pipeline.crossvalidate import CrossValidated, cross_validate
from training.pipeline.featurize import Features, compute_features, resolve_backbone
from training.pipeline.fit import fit_head
from training.pipeline.held_out import evaluate_held_out
from training.pipeline.load import TrainingData, load_training_data
from training.pipeline.look import where_it_looked
from training.pipeline.package import export_and_check, model_metadata
from training.pipeline.review import review_labels
from training.pipeline.threshold import calibrate_unknown
from training.pipeline.timing import StageTimer
from training.pipeline.write import Run, metrics_of, report_of, write_outputs
from training.settings import TrainConfig


@dataclass(frozen=True)
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


def cross_validate_if_needed(
    data: TrainingData, features: Features, config: TrainConfig
) -> CrossValidated | None:
    """Out-of-fold answers for every photo when the headline needs them, else None."""
    if not data.headline_by_cross_validation:
        return None
    return cross_validate(
        features.all_x(),
        features.all_y(),
        data.groups(data.every_photo),
        len(data.labels),
        config,
        (features.x_aug, features.aug_index),
    )


def _import_keras() -> None:
    """TensorFlow and Keras, quietly, for a hidden-layer head only (timed on its own:
    seconds, not the head's fault); the linear head needs neither."""
    from training.tf_runtime import import_keras

    import_keras()


def train(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: TrainConfig | None = None,
    *,
    quiet: bool = False,
    progress: bool | None = None,
    features_dir: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train a classifier on ``data_dir``; write model.onnx, metrics.json, report.html.

    ``progress``: None shows progress bars only when stderr is a terminal; ``quiet``
    also silences the dataset summary. ``features_dir``: an `isit features` folder of
    this data, whose hashes and features are used instead of decoding the photos again.
    Raises :class:`training.pipeline.load.DatasetError`
    (with the dataset check's messages) on fatal dataset problems, and other
    :class:`isit.errors.IsitError` s.
    """
    config = config or TrainConfig()
    timer, out = StageTimer(), Path(out_dir)
    progress = False if quiet else progress

    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    from training.backbones.registry import get_backbone

    get_backbone(config.backbone)  # an unknown name fails before the check's work
    data: TrainingData = timer.run(
        "check",
        load_training_data,
        data_dir,
        include_conflicts=config.include_conflicts,
        progress=progress,
        features=features_dir,
    )
    say(data.summary)
    backbone = timer.run("backbone", resolve_backbone, config.backbone, say)
    features = timer.run(
        "features", compute_features, data, backbone, config, progress, features_dir
    )
    if config.hidden:
        timer.run("import tensorflow", _import_keras)
    cv = timer.run("cross-validation", cross_validate_if_needed, data, features, config)
    head = timer.run("head", fit_head, data, features, config, cv)
    rule = timer.run("unknown", calibrate_unknown, data, features, config)
    held = timer.run("evaluate", evaluate_held_out, data, features, head, rule, cv)
    issues = timer.run("review", review_labels, data, features, head, cv)
    metadata = model_metadata(Path(data_dir), data, backbone, rule, held, config)
    out.mkdir(parents=True, exist_ok=True)
    exported = timer.run(
        "export", export_and_check, out, metadata, backbone, head, data, features, say
    )
    where = timer.run(
        "heatmaps", where_it_looked, exported.model_path, held.interpretation, exported.heatmaps
    )
    run = Run(data, backbone, features, head, rule, held, exported, config, tuple(issues), where)
    seconds = timer.elapsed()
    metrics = metrics_of(run, seconds, timer.timings)
    metrics_path, report_path = timer.run(
        "report", write_outputs, out, metrics, report_of(run, metrics)
    )
    metrics["timings"] = dict(timer.timings)  # now with the report's time
    write_metrics(metrics_path, metrics)
    return TrainResult(
        model_path=exported.model_path,
        metrics_path=metrics_path,
        report_path=report_path,
        metrics=metrics,
        labels=list(data.labels),
        threshold=rule.threshold,
        cache_hits=features.cache_hits,
        cache_computed=features.cache_computed,
        seconds=seconds,
        timings=dict(timer.timings),
    )


__all__ = ["TrainConfig", "TrainResult", "train"]
