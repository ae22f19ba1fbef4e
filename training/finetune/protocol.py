"""Fine-tuning and flips inside `isit train`: what each stage gets, with no peeking.

- :func:`prepare`: the cut activations of every view training needs (cached), or for
  flips alone the frozen backbone's features of the mirror images;
- :meth:`Tuning.fold_features`: the cross-validation hook: fine-tune on the fold's
  training photos only (stopping early on a grouped slice of them) and return every
  photo's features through that fold's tail, so the headline measures fine-tuning too;
- :func:`finish`: the final tail (on every photo for the folds' median best epoch when
  cross-validated, else on train + validation with early stopping), exported with
  tf2onnx as a backbone ONNX (+ flips), and every split's features through it: from
  there on, training goes on as with a frozen backbone.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from isit.feature_extractor import FeatureExtractor
from isit.metadata import FEATURES, BackboneInfo, ModelMetadata
from training.data.feature_cache import Entry, sha256_bytes
from training.finetune.stages import Split, provision_trunk, split_backbone
from training.finetune.tune import TuneConfig, fine_tune
from training.finetune.views import MIRROR, cached_views
from training.pipeline.featurize import Backbone, Features
from training.pipeline.load import TrainingData
from training.settings import TrainConfig, cache_root

STOP_SHARE = 0.15  # of the photos fine-tuned on, held for early stopping


@dataclass
class Tuning:
    """Cut activations (or frozen features, for flips alone) of every view, by row of
    ``Features.all_x()``, and what the folds did."""

    config: TrainConfig
    tune: TuneConfig
    y: np.ndarray
    groups: np.ndarray
    split: Split | None  # None: flips on the frozen backbone
    photos: np.ndarray  # [N, D] every photo, train, val, test order
    mirrors: np.ndarray  # [N, D] their mirror images
    augmented: np.ndarray  # [A, D] the augmented views of training photos
    aug_index: np.ndarray  # [A] the row each view came from
    probes: np.ndarray
    probe_mirrors: np.ndarray
    fold_epochs: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def features(self, x: np.ndarray, mirrors: np.ndarray | None = None) -> np.ndarray:
        """Features of views ``x`` through the current tail; with flips (``mirrors``
        given) averaged with the mirror images', as the graph averages them."""
        out = self.split.features(x) if self.split is not None else x
        if mirrors is None:
            return out
        other = self.split.features(mirrors) if self.split is not None else mirrors
        return (out + other) / 2

    def all_features(self) -> tuple[np.ndarray, np.ndarray]:
        """(every photo's features, the augmented views') through the current tail."""
        mirrors = self.mirrors if self.config.flips else None
        return self.features(self.photos, mirrors), self.features(self.augmented)

    def tune_on(self, rows: np.ndarray, epochs: int | None = None) -> None:
        """Fine-tune the tail on photos ``rows`` (and their mirror and augmented views):
        early stopping on a grouped slice of them, or ``epochs`` epochs on all."""
        assert self.split is not None
        stop = None
        if epochs is None:
            rows, stop_rows = _stopping_split(rows, self.y, self.groups, self.config.seed)
            stop = (np.concatenate([self.photos[stop_rows], self.mirrors[stop_rows]]),
                    np.r_[self.y[stop_rows], self.y[stop_rows]])  # fmt: skip
        views = np.isin(self.aug_index, rows)
        x = np.concatenate([self.photos[rows], self.mirrors[rows], self.augmented[views]])
        y = np.concatenate([self.y[rows], self.y[rows], self.y[self.aug_index[views]]])
        tuned = fine_tune(self.split, (x, y), int(self.y.max()) + 1, self.tune, stop, epochs)
        if stop is not None:
            self.fold_epochs.append(tuned.best_epoch)
        self.seconds.append(tuned.seconds)

    def fold_features(self, fit_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cross-validation hook: (every photo's features, the augmented views')
        through a tail fine-tuned on the photos ``fit_idx`` only."""
        if self.split is not None:
            self.tune_on(fit_idx)
        return self.all_features()


def _stopping_split(
    rows: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A grouped slice of ``rows`` to stop on; all of them to train on when too few."""
    from sklearn.model_selection import GroupShuffleSplit

    if len(np.unique(groups[rows])) < 5:
        return rows, rows[:0]
    inner = GroupShuffleSplit(n_splits=1, test_size=STOP_SHARE, random_state=seed)
    train, stop = next(inner.split(rows, y[rows], groups[rows]))
    return rows[train], rows[stop]


def _entries(data: TrainingData, features: Features) -> tuple[list[Entry], ...]:
    """The photos (every split), the augmented views (as compute_features made them:
    views 1..k of each training photo in turn) and the unrelated probe images."""
    photos = [Entry(s.sha256, s.path) for s in data.every_photo]
    k = len(features.aug_index) // max(len(data.train), 1)
    augmented = [Entry(data.train[i].sha256, data.train[i].path, 1 + n % k)
                 for n, i in enumerate(features.aug_index)]  # fmt: skip
    probes = [Entry(sha256_bytes(b), b) for _, b in features.probe_items]
    return photos, augmented, probes


def prepare(
    data: TrainingData, backbone: Backbone, features: Features, config: TrainConfig,
    progress: bool | None = None,
) -> Tuning:  # fmt: skip
    """The cached views fine-tuning (or flips alone) needs, computed once per photo."""
    split, extractor = None, backbone.extractor
    if config.fine_tune:
        split = split_backbone(backbone.definition, config.fine_tune_stages)
        extractor = provision_trunk(split, cache_root())
    photos, augmented, probes = _entries(data, features)

    def get(entries: list[Entry], view: int | None, desc: str) -> np.ndarray:
        return cached_views(extractor, entries, view, progress, desc)

    return Tuning(
        config, TuneConfig(stages=config.fine_tune_stages, seed=config.seed),
        features.all_y(), data.groups(data.every_photo), split,
        photos=get(photos, 0, "activations") if split else features.all_x(),
        mirrors=get(photos, MIRROR, "mirror images"),
        augmented=get(augmented, None, "augmented activations") if split else features.x_aug,
        aug_index=features.aug_index,
        probes=get(probes, 0, "probe activations") if split else features.x_probe,
        probe_mirrors=get(probes, MIRROR, "probe mirror images"),
    )  # fmt: skip


def _final_tail(tuning: Tuning, data: TrainingData, cross_validated: bool) -> None:
    """Fine-tune the exported tail: on every photo for the folds' median best epoch when
    cross-validated (no photo left to stop on), else on train + validation, stopping
    early on a grouped slice of them (the test photos stay unseen)."""
    if tuning.split is None:
        return
    if cross_validated:
        epochs = int(np.median(tuning.fold_epochs)) if tuning.fold_epochs else 0
        tuning.tune_on(np.arange(len(tuning.y)), epochs=epochs)
    else:
        tuning.tune_on(np.arange(len(data.train) + len(data.val)))


def _weights_sha256(split: Split) -> str:
    digest = hashlib.sha256()
    for w in split.full.get_weights():
        digest.update(np.ascontiguousarray(w, np.float32).tobytes())
    return digest.hexdigest()


def _export(tuning: Tuning, backbone: Backbone) -> Path:
    """The backbone ONNX the model is built on: the fine-tuned network (tf2onnx, checked
    against Keras) and/or the flips; in a temporary folder for this run."""
    import onnx

    from training.model.flips import add_flips
    from training.onnx_file import write_onnx_atomically

    folder = Path(tempfile.mkdtemp(prefix="isit-tuned-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "backbone.onnx"
    if tuning.split is None:
        shutil.copyfile(backbone.path, path)
    else:
        from training.tf_convert import export_function

        spec, info = backbone.definition.spec, backbone.extractor.metadata.backbone
        tuned = BackboneInfo(info.name, _weights_sha256(tuning.split), info.feature_dim)
        meta = ModelMetadata(kind="backbone", name=info.name + "-fine-tuned", version="1",
                             preprocess=spec, backbone=tuned)  # fmt: skip
        probe = np.random.default_rng(0).normal(0.0, 1.0, (2, spec.size, spec.size, 3))
        export_function(tuning.split.full, path, output_names=[FEATURES], metadata=meta,
                        verify_with=probe.astype(np.float32), atol=1e-4)  # fmt: skip
    if tuning.config.flips:
        write_onnx_atomically(add_flips(onnx.load(str(path))), path)
    return path


def describe(tuning: Tuning) -> str:
    """The report's words for what was done, with the time it took."""
    parts = []
    if tuning.split is not None:
        stages = tuning.split.stages
        parts.append(
            f"the last {stages} stage{'s' if stages > 1 else ''} of the backbone trained on "
            f"these photos ({len(tuning.seconds)} fine-tunings, every cross-validation fold "
            f"on its own training photos, then the model's: {sum(tuning.seconds):.0f} s)"
        )
    if tuning.config.flips:
        parts.append("every answer averaged over the photo and its mirror image")
    return "; ".join(parts)


def finish(
    tuning: Tuning, data: TrainingData, backbone: Backbone, features: Features,
    cross_validated: bool,
) -> tuple[Backbone, Features]:  # fmt: skip
    """The final tail, its backbone ONNX, and every split's features through it."""
    _final_tail(tuning, data, cross_validated)
    path = _export(tuning, backbone)
    x, x_aug = tuning.all_features()
    n_train, n_val = len(data.train), len(data.val)
    flips = tuning.config.flips
    probes = tuning.features(tuning.probes, tuning.probe_mirrors if flips else None)
    tuned = replace(
        features, x_train=x[:n_train], x_val=x[n_train : n_train + n_val],
        x_test=x[n_train + n_val :], x_aug=x_aug, x_probe=probes,
    )  # fmt: skip
    return Backbone(backbone.definition, path, FeatureExtractor(path), describe(tuning)), tuned
