"""`isit check DATA --model MODEL.onnx`: which photos of a folder are probably misfiled.

The folder's photos are featurised with the model's backbone (cached), each is scored
by an exact head trained without it (grouped out-of-fold, regularisation chosen by
cross-validation), and confident learning lists the ones whose folder is unlikely
(:mod:`training.evaluation.label_review`). Nothing in the folder is changed.
"""

from __future__ import annotations

import os

from isit.bundle import load_bundle
from training.data.doctor import DatasetReport
from training.evaluation.label_review import LabelIssue, likely_mistakes, quick_out_of_fold
from training.pipeline.featurize import compute_features, resolve_backbone
from training.pipeline.load import training_data_from
from training.settings import TrainConfig


def review_folder(
    report: DatasetReport, model_path: str | os.PathLike[str], *, progress: bool | None = None
) -> list[LabelIssue]:
    """Likely label mistakes among the usable photos of a checked folder."""
    from training.model import head as heads

    report.raise_if_fatal()
    data = training_data_from(report)
    backbone = resolve_backbone(load_bundle(model_path).metadata.backbone.name, lambda _: None)
    config = TrainConfig(backbone=backbone.name, probes=False)
    features = compute_features(data, backbone, config, progress)
    samples = data.every_photo
    x, y, groups = features.all_x(), features.all_y(), data.groups(samples)
    c, _ = heads.choose_c(x, y, groups)
    probabilities = quick_out_of_fold(x, y, groups, len(data.labels), c)
    return likely_mistakes(
        probabilities, y, data.labels, [s.relative for s in samples], [s.path for s in samples]
    )
