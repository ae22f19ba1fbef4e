"""Export and parity: ONE model.onnx, checked against the training side.

The provisioned backbone ONNX (the features came from it) is joined with the converted
head; the file is then loaded as the Function loads it and run on real photo bytes,
whose answers must match what the evaluation computed from cached features. Those
photos are the report's gallery photos, so the same run gives their heatmaps.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isit.imaging import read_image_bytes
from isit.metadata import ModelMetadata, UnknownSpec
from training.evaluation.where_it_looked import gallery_photos
from training.model import learnt_from as fingerprints
from training.pipeline.featurize import Backbone
from training.pipeline.fit import FittedHead
from training.pipeline.held_out import HeldOutEvaluation
from training.pipeline.load import TrainingData
from training.pipeline.threshold import UnknownRule
from training.settings import TrainConfig

PARITY_PHOTOS = 64  # at least, when the galleries hold fewer photos


@dataclass(frozen=True)
class Exported:
    model_path: Path
    metadata: ModelMetadata
    parity: dict[str, float]
    # The parity photos' heatmaps ([C, h, w] by index in the held-out interpretation), so
    # the galleries (training.evaluation.where_it_looked) need not run them again.
    heatmaps: dict[int, np.ndarray] = field(default_factory=dict)


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


def parity_photos(held: HeldOutEvaluation) -> list[int]:
    """The held-out photos (indices in the interpretation) the export is checked on: the
    report's gallery photos, which need their heatmaps anyway, then the first others up to
    ``PARITY_PHOTOS``."""
    chosen = gallery_photos(held.interpretation)
    taken = set(chosen)
    others = (i for i in range(len(held.features)) if i not in taken)
    return chosen + list(itertools.islice(others, max(0, PARITY_PHOTOS - len(chosen))))


def export_and_check(
    out_dir: Path,
    metadata: ModelMetadata,
    backbone: Backbone,
    head: FittedHead,
    held: HeldOutEvaluation,
    *,
    show: bool = False,
) -> Exported:
    """Write model.onnx, then check it on the bytes of the :func:`parity_photos`:
    probabilities, unknown scores and heatmap, from one run (``show``: a bar over the two
    steps)."""
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
        photos = parity_photos(held)
        sources = [held.interpretation.sources[i] for i in photos]
        images = [s if isinstance(s, bytes) else read_image_bytes(s) for s in sources]
        x = held.features[photos]
        expected = (head.probabilities(x), head.ood_scores(x))
        parity, maps = check_export(model_path, images, head.model, x, expected)
        bar.update()
    heatmaps = {} if maps is None else dict(zip(photos, maps, strict=True))
    return Exported(model_path, metadata, parity, heatmaps)
