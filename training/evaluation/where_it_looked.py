"""Where it looked: heatmaps of the exported model on held-out photos.

The model.onnx just written (its ``heatmap`` output, the same one the API serves) runs on
the held-out photos, at most ``PER_CLASS`` of each class: the report overlays the maps
on its galleries and shows each class's average, and the shortcut rule
(:mod:`training.evaluation.shortcuts`) warns when a class's evidence sits on the border or in one
fixed spot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from isit.bundle import ModelBundle
from isit.imaging import preprocess_batch, read_image_bytes
from isit.metadata import HEATMAP, INPUT_NAME
from training import settings
from training.evaluation.interpretation import Interpretation
from training.evaluation.metrics import WhereSummary
from training.evaluation.shortcuts import ClassEvidence, evidence, shortcut_warnings

PER_CLASS = 30  # enough for an average and the shortcut rule; ~10 ms a photo
BATCH = settings.BACKBONE_BATCH


@dataclass(frozen=True)
class WhereItLooked:
    maps: dict[int, np.ndarray] = field(default_factory=dict)  # photo index -> [C, h, w]
    class_average: dict[str, np.ndarray] = field(default_factory=dict)  # label -> [H, W]
    warnings: tuple[str, ...] = ()
    evidence: tuple[ClassEvidence, ...] = ()
    available: bool = False  # False: the head has no exact heatmap (a hidden layer)

    def summary(self) -> WhereSummary:
        """The ``where_it_looked`` block of metrics.json."""
        return WhereSummary(self.available, self.warnings, self.evidence)


def gallery_photos(interp: Interpretation) -> list[int]:
    """The report's gallery photos, and up to PER_CLASS photos of each class (the first
    ones: the order is stable), as indices in ``interp``."""
    chosen = set(interp.most_confidently_wrong()) | set(interp.least_confident_right())
    for c in range(len(interp.labels)):
        chosen |= set(interp.top_by_class(c)) | set(interp.bottom_by_class(c))
        chosen |= {int(i) for i in np.flatnonzero(interp.y_true == c)[:PER_CLASS]}
    return sorted(chosen)


def _run(bundle: ModelBundle, sources: list[Path | bytes], progress: bool = False) -> np.ndarray:
    from training.progress import stage_bar

    spec = bundle.metadata.preprocess
    maps = []
    with stage_bar(len(sources), "heatmaps", progress, "photo") as bar:
        for start in range(0, len(sources), BATCH):
            maps.append(_run_batch(bundle, sources[start : start + BATCH], spec))
            bar.update(len(maps[-1]))
    return np.concatenate(maps) if maps else np.zeros((0, len(bundle.labels), 1, 1), np.float32)


def _run_batch(bundle: ModelBundle, sources: list[Path | bytes], spec: Any) -> np.ndarray:
    """One batch of photos to their ``[n, C, h, w]`` maps."""
    chunk = [s if isinstance(s, bytes) else read_image_bytes(s) for s in sources]
    (batch_maps,) = bundle.session.run([HEATMAP], {INPUT_NAME: preprocess_batch(chunk, spec)})
    return np.asarray(batch_maps, dtype=np.float32)


def where_it_looked(
    model_path: Path,
    interp: Interpretation,
    known: dict[int, np.ndarray] | None = None,
    *,
    progress: bool = False,
) -> WhereItLooked:
    """The galleries' heatmaps and the shortcut rule; ``known``: heatmaps already
    computed (the export check's, by index in ``interp``), not run again; ``progress``:
    a bar. The model file is opened only for photos ``known`` lacks."""
    known = known or {}
    chosen = gallery_photos(interp)
    todo = [i for i in chosen if i not in known]
    if todo or not known:
        bundle = ModelBundle(model_path)
        if not bundle.has_heatmap:
            return WhereItLooked()
        sources = [interp.sources[i] for i in todo]
        computed = dict(zip(todo, _run(bundle, sources, progress), strict=True))
    else:
        computed = {}
    by_photo = {i: computed[i] if i in computed else known[i] for i in chosen}
    own_class: dict[str, list[np.ndarray]] = {label: [] for label in interp.labels}
    for i, photo_maps in by_photo.items():
        label = interp.labels[int(interp.y_true[i])]
        own_class[label].append(photo_maps[int(interp.y_true[i])])
    stacked = {label: np.stack(m) for label, m in own_class.items() if m}
    warnings, found = shortcut_warnings(stacked)
    average = {label: np.mean([evidence(m) for m in ms], axis=0) for label, ms in stacked.items()}
    return WhereItLooked(by_photo, average, tuple(warnings), tuple(found), True)
