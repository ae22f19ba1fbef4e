"""`isit train` as a short sequence of named stages with a typed result between each:

    data (check) -> backbone -> features -> cross-validation (when the test split is
    small) -> head -> unknown -> evaluate -> export (+ parity), alongside review (likely
    label mistakes) -> heatmaps (where it looked, shortcut warnings) -> outputs

Each stage is a plain function in its own module (``training.pipeline.<stage>``), timed
by one wrapper (metrics.json ``timings``). The CLI calls :func:`train` (imported
lazily); stages never import the CLI. TensorFlow is imported only for a hidden-layer
head (or to provision a backbone), never on the default path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from training.evaluation.metrics import Metrics
from training.evaluation.report import write_metrics, write_report
from training.evaluation.where_it_looked import where_it_looked
from training.outputs import TRAIN_FILES, staged_outputs
from training.pipeline.crossvalidate import CrossValidated, cross_validate
from training.pipeline.featurize import Backbone, Features, compute_features, resolve_backbone
from training.pipeline.fit import fit_head, head_on_everything
from training.pipeline.held_out import evaluate_held_out
from training.pipeline.load import TrainingData, load_training_data
from training.pipeline.package import export_and_check, model_metadata
from training.pipeline.review import review_labels
from training.pipeline.threshold import calibrate_unknown
from training.pipeline.timing import StageTimer, show_progress, stage_bar, stage_lines
from training.pipeline.write import Run, metrics_of, report_of, write_held_out_file
from training.settings import TrainConfig

if TYPE_CHECKING:
    from training.finetune.protocol import Tuning


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    metrics_path: Path
    report_path: Path
    metrics: Metrics  # what metrics.json holds
    seconds: float  # up to the report

    @property
    def labels(self) -> list[str]:
        return list(self.metrics.labels)


def cross_validate_if_needed(
    data: TrainingData,
    features: Features,
    config: TrainConfig,
    show: bool = False,
    tuning: Tuning | None = None,
) -> CrossValidated | None:
    """Out-of-fold answers for every photo when the headline needs them, else None
    (``show``: a bar over the folds). With ``tuning``, every fold fine-tunes on its own
    training photos (once over the folds: each fine-tuning costs seconds)."""
    if not data.headline_by_cross_validation:
        return None
    from training.settings import CV_REPEATS

    repeats = 1 if tuning is not None else CV_REPEATS
    hook = tuning.fold_features if tuning is not None else None
    # The exact head needs nothing from the folds: it is fitted among them (not when the
    # backbone is fine-tuned after them: its features change).
    final = None
    if not config.hidden and tuning is None:
        final = partial(head_on_everything, data, features, config)
    fits = config.folds * repeats + (final is not None)
    with stage_bar(fits, "cross-validation", show, "fold") as bar:
        return cross_validate(
            features.all_x(),
            features.all_y(),
            data.groups(data.every_photo),
            len(data.labels),
            config,
            (features.x_aug, features.aug_index),
            repeats=repeats,
            on_fold=bar.update,
            alongside=final,
            fold_features=hook,
        )


def _import_later_stages() -> None:
    """What the stages after the features import (scikit-learn with scipy and pandas,
    cleanlab, onnx: each slow to import), imported while the backbone's workers compute
    features (cold runs), else before the folds' workers fork (so they inherit it)."""
    import cleanlab.filter  # noqa: F401
    import sklearn._loss.loss
    import sklearn.cluster
    import sklearn.metrics  # noqa: F401

    import training.model.graph  # noqa: F401


def _import_keras() -> None:
    """TensorFlow and Keras, quietly, for a hidden-layer head only (timed on its own:
    seconds, not the head's fault); the linear head needs neither."""
    from training.tf_runtime import import_keras

    import_keras()


def _prepare_tuning(*args: object) -> Tuning:
    from training.finetune.protocol import prepare

    return prepare(*args)  # type: ignore[arg-type]


def _finish_tuning(*args: object) -> tuple[Backbone, Features]:
    from training.finetune.protocol import finish

    return finish(*args)  # type: ignore[arg-type]


def train(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: TrainConfig | None = None,
    *,
    quiet: bool = False,
    progress: bool | None = None,
    features_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> TrainResult:
    """Train a classifier on ``data_dir``; write model.onnx, metrics.json, report.html.

    ``progress``: None shows progress bars only when stderr is a terminal; ``quiet``
    also silences the dataset summary. ``features_dir``: an `isit features` folder of
    this data, whose hashes and features are used instead of decoding the photos again.
    The files appear in ``out_dir`` together, when all are written
    (:mod:`training.outputs`); an earlier run there is refused up front unless ``force``.
    Raises :class:`training.pipeline.load.DatasetError`
    (with the dataset check's messages) on fatal dataset problems, and other
    :class:`isit.errors.IsitError` s.
    """
    config = config or TrainConfig()
    out = Path(out_dir)
    progress = False if quiet else progress
    show = show_progress(progress)  # stage lines and bars: on a terminal, or --progress

    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    from training.backbones.registry import get_backbone

    get_backbone(config.backbone)  # an unknown name fails before the check's work
    with staged_outputs(out, TRAIN_FILES, force=force) as staging:
        result = _train_into(staging, out, data_dir, config, say, progress, show, features_dir)
    return result


def _train_into(
    staging: Path,
    out: Path,
    data_dir: str | os.PathLike[str],
    config: TrainConfig,
    say: Callable[[str], None],
    progress: bool | None,
    show: bool,
    features_dir: str | os.PathLike[str] | None,
) -> TrainResult:
    """The stages, writing into ``staging``; the result names the files' places in ``out``."""
    timer = StageTimer(stage_lines(show))
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
    imports = partial(timer.run, "imports", _import_later_stages)  # timed on its own too
    features = timer.run("features", compute_features, data, backbone, config, progress,
                         features_dir, meanwhile=imports)  # fmt: skip
    if config.hidden or config.fine_tune:
        timer.run("import tensorflow", _import_keras)
    tuning = None
    if config.fine_tune or config.flips:
        tuning = timer.run("fine-tune views", _prepare_tuning, data, backbone, features, config,
                           progress)  # fmt: skip
    cv = timer.run(
        "cross-validation", cross_validate_if_needed, data, features, config, show, tuning
    )
    if tuning is not None:
        backbone, features = timer.run("fine-tune", _finish_tuning, tuning, data, backbone,
                                       features, cv is not None)  # fmt: skip
    head = timer.run("head", fit_head, data, features, config, cv)
    rule = timer.run("unknown", calibrate_unknown, data, head, config)
    held = timer.run("evaluate", evaluate_held_out, data, features, head, rule, cv)
    metadata = model_metadata(Path(data_dir), data, backbone, rule, held, config)
    # The export's check runs the model file on real photos (onnxruntime, without the GIL)
    # while the review works here: neither needs the other.
    with ThreadPoolExecutor(1, thread_name_prefix="isit-export") as pool:
        exporting = pool.submit(timer.run, "export", export_and_check, staging, metadata,
                                backbone, head, held, show=show)  # fmt: skip
        issues = timer.run("review", review_labels, data, features, head, cv)
        exported = exporting.result()
    where = timer.run(
        "heatmaps", where_it_looked, exported.model_path, held.interpretation,
        exported.heatmaps, progress=show,
    )  # fmt: skip
    # The report and the result name where the model will be, not where it is written.
    exported = replace(exported, model_path=out / exported.model_path.name)
    run = Run(data, backbone, features, head, rule, held, exported, config, tuple(issues), where)
    seconds = timer.elapsed()
    metrics = metrics_of(run, seconds, timer.timings)
    timer.run("report", write_report, report_of(run, metrics), staging / "report.html")
    # metrics.json is written once, last, so its timings include the report's.
    metrics = metrics.with_timings(timer.timings)
    write_metrics(staging / "metrics.json", metrics)
    write_held_out_file(run, staging)  # per-photo outcomes and data fingerprint: `isit compare`
    return TrainResult(
        model_path=exported.model_path,
        metrics_path=out / "metrics.json",
        report_path=out / "report.html",
        metrics=metrics,
        seconds=seconds,
    )


__all__ = ["TrainConfig", "TrainResult", "train"]
