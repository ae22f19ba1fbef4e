"""Export and parity: ONE model.onnx, checked against the training side.

The provisioned backbone ONNX (the features came from it) is joined with the converted
head; the file is then loaded as the Function loads it and run on real photo bytes,
whose answers must match what the evaluation computed from cached features. Those
photos are the report's gallery photos, so the same run gives their heatmaps; a gallery
photo whose feature map an earlier run kept gets its heatmap from it in NumPy instead.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isit.imaging import read_image_bytes
from isit.metadata import HEATMAP, ModelMetadata, UnknownSpec
from training.data.feature_cache import sha256_bytes
from training.data.feature_map_cache import FeatureMapCache
from training.evaluation.where_it_looked import gallery_photos
from training.model import learnt_from as fingerprints
from training.pipeline.featurize import Backbone
from training.pipeline.fit import FittedHead
from training.pipeline.held_out import HeldOutEvaluation
from training.pipeline.load import TrainingData
from training.pipeline.threshold import UnknownRule
from training.settings import TrainConfig

# Photos model.onnx runs on at least: the export's check, in milliseconds. The galleries'
# other heatmaps come from feature maps kept by an earlier run (data.feature_map_cache).
PARITY_PHOTOS = 8


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


def photos_to_run(gallery: list[int], kept: set[int], total: int) -> list[int]:
    """The held-out photos (indices in the interpretation) model.onnx runs on: the gallery
    photos without a kept feature map, then others (kept gallery photos first) until
    ``PARITY_PHOTOS`` check the export."""
    run = [i for i in gallery if i not in kept]
    shown = set(gallery)
    others = itertools.chain(
        (i for i in gallery if i in kept), (i for i in range(total) if i not in shown)
    )
    return run + list(itertools.islice(others, max(0, PARITY_PHOTOS - len(run))))


def _photo_bytes(source: Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else read_image_bytes(source)


def _kept(
    maps: FeatureMapCache | None, gallery: list[int], held: HeldOutEvaluation
) -> dict[int, np.ndarray]:
    """The feature maps an earlier run kept, by photo (looked up by the check's hash)."""
    if maps is None:
        return {}
    found = {i: maps.get(held.hashes[i]) for i in gallery}
    return {i: m for i, m in found.items() if m is not None}


def export_and_check(
    out_dir: Path,
    metadata: ModelMetadata,
    backbone: Backbone,
    head: FittedHead,
    held: HeldOutEvaluation,
    *,
    show: bool = False,
) -> Exported:
    """Write model.onnx, then check it on the bytes of real photos (:func:`photos_to_run`):
    probabilities, unknown scores and heatmap, from one run that also gives the report's
    gallery photos their heatmaps, except those whose feature map was kept from an
    earlier run (``show``: a bar over the two steps)."""
    from training.model.graph import FEATURE_MAP, check_export, export, heatmaps_of
    from training.progress import stage_bar

    with stage_bar(2, "export", show) as bar:
        model_path = export(backbone.path, head.model, head.reference.rows, metadata,
                            out_dir / "model.onnx", temperature=head.temperature)  # fmt: skip
        bar.update()
        gallery = gallery_photos(held.interpretation)
        maps = None if backbone.tuning else FeatureMapCache(backbone.extractor)
        kept = _kept(maps, gallery, held)
        run = photos_to_run(gallery, set(kept), len(held.features))
        images = [_photo_bytes(held.interpretation.sources[i]) for i in run]
        x = held.features[run]
        expected = (head.probabilities(x), head.ood_scores(x))
        parity, outputs = check_export(model_path, images, head.model, x, expected)
        bar.update()
    if outputs is None:  # no exact heatmap (a hidden layer)
        return Exported(model_path, metadata, parity)
    heatmaps = dict(zip(run, outputs[HEATMAP], strict=True))
    if maps is not None and set(gallery) - set(kept):  # the gallery's maps, for next time
        fresh = dict(zip(run, outputs[FEATURE_MAP], strict=True))
        decoded = dict(zip(run, images, strict=True))
        for i in set(gallery) - set(kept):  # under the hash of the bytes the map came from
            maps.put(sha256_bytes(decoded[i]), fresh[i])
        maps.trim()
    if kept:
        found = heatmaps_of(np.stack(list(kept.values())), head.model).astype(np.float32)
        heatmaps.update(zip(kept, found, strict=True))
    return Exported(model_path, metadata, parity, heatmaps)
