"""Export and parity: ONE model.onnx, checked against the training side.

The provisioned backbone ONNX (the features came from it) is joined with the converted
head; the file is then loaded as the Function loads it and run on real photo bytes,
whose answers must match what the evaluation computed from cached features.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from isit.imaging import read_image_bytes
from isit.metadata import ModelMetadata, UnknownSpec
from training.model import learnt_from as fingerprints
from training.pipeline.featurize import Backbone, Features
from training.pipeline.fit import FittedHead
from training.pipeline.held_out import HeldOutEvaluation
from training.pipeline.load import TrainingData
from training.pipeline.threshold import UnknownRule
from training.settings import TrainConfig

PARITY_PHOTOS = 64


@dataclass(frozen=True)
class Exported:
    model_path: Path
    metadata: ModelMetadata
    parity: dict[str, float]
    # The parity photos' heatmaps ([C, h, w] by photo path) from the parity run, so the
    # galleries (training.pipeline.look) need not run those photos again.
    heatmaps: dict[Path, np.ndarray] = field(default_factory=dict)


def model_metadata(
    data_dir: Path,
    data: TrainingData,
    backbone: Backbone,
    rule: UnknownRule,
    held: HeldOutEvaluation,
    config: TrainConfig,
) -> ModelMetadata:
    return ModelMetadata(
        kind="classifier",
        name=config.name or data_dir.resolve().name or "isit-model",
        version=time.strftime("%Y%m%d-%H%M%S"),
        preprocess=backbone.extractor.spec,
        backbone=backbone.extractor.metadata.backbone,  # what the features came from
        labels=data.labels,
        unknown=UnknownSpec(
            threshold=rule.threshold,
            method=rule.method,
            negative_labels=rule.negative_labels,
            uncertain_margin=rule.uncertain_margin,
        ),
        metrics=held.served(),
        training_photos=fingerprints.encode(data.learnt_hashes(held.cross_validated)),
        title=(config.title or "").strip(),
    )


def _parity_photos(data: TrainingData, features: Features) -> tuple[list[Any], Any]:
    """The test photos (else validation, else training) and their cached features."""
    for samples, x in ((data.test, features.x_test), (data.val, features.x_val)):
        if samples:
            return list(samples[:PARITY_PHOTOS]), x[:PARITY_PHOTOS]
    return list(data.train[:PARITY_PHOTOS]), features.x_train[:PARITY_PHOTOS]


def export_and_check(
    out_dir: Path,
    metadata: ModelMetadata,
    backbone: Backbone,
    head: FittedHead,
    data: TrainingData,
    features: Features,
    *,
    show: bool = False,
) -> Exported:
    """Write model.onnx, then check it on real photo bytes: probabilities, unknown scores
    and heatmap, from one run (``show``: a bar over the two steps)."""
    from training.model.graph import check_export, export
    from training.progress import stage_bar

    with stage_bar(2, "export", show) as bar:
        model_path = export(
            backbone.path,
            head.model,
            head.reference.rows,
            metadata,
            out_dir / "model.onnx",
            temperature=head.temperature,
        )
        bar.update()
        samples, x = _parity_photos(data, features)
        images = [read_image_bytes(s.path) for s in samples]
        expected = (head.probabilities(x), head.ood_scores(x))
        parity, maps = check_export(model_path, images, head.model, x, expected)
        bar.update()
    heatmaps = {} if maps is None else {s.path: m for s, m in zip(samples, maps, strict=True)}
    return Exported(model_path, metadata, parity, heatmaps)
