"""Features: the backbone resolved once, then cached features per split.

The backbone is looked up and provisioned once, into a :class:`Backbone` that later
stages use (export joins its ONNX file, metadata names it). Features come from the
feature cache: train / validation / test photos, ``augment`` augmented views of each
training photo, and the unrelated probe photos.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from isit.errors import IsitError
from isit.feature_extractor import FeatureExtractor
from training import settings
from training.backbones.registry import BackboneDef, get_backbone
from training.data.feature_cache import Entry, FeatureCache, sha256_bytes
from training.leftovers import sweep_temp_files
from training.model import unknown as ood
from training.pipeline.load import Sample, TrainingData
from training.settings import TrainConfig


@dataclass(frozen=True)
class Backbone:
    definition: BackboneDef
    path: Path  # the provisioned backbone ONNX the features come from
    extractor: FeatureExtractor
    tuning: str = ""  # fine-tuning / flips, in the report's words (training.finetune)

    @property
    def name(self) -> str:
        return self.definition.name


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def feature_threads(cores: int | None = None, busy: int | None = None) -> int:
    """onnxruntime threads for computing features: this process's ``cores`` less those
    ``busy`` running other processes now (Linux: /proc/loadavg), at most
    ``settings.FEATURE_THREADS``, at least one. Why: on an idle machine a second thread
    is faster; when another process holds a core, its idle spinning only fights the
    decoders and that process."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if busy is None:
        busy = _others_running()
    return max(1, min(settings.FEATURE_THREADS, cores - busy))


def _others_running() -> int:
    """Processes other than this one running at this moment (0 where unknown)."""
    try:
        running = Path("/proc/loadavg").read_text().split()[3].split("/")[0]
        return max(0, int(running) - 1)
    except (OSError, IndexError, ValueError):
        return 0


def _opened(definition: BackboneDef, path: Path) -> Backbone | None:
    """The cached backbone when onnxruntime opens it as ``definition``'s, else None (then
    provisioning checks it again and rebuilds it). Why not provisioning's own check: it
    parses the file with the onnx package, slow to import; the session is needed anyway."""
    try:
        extractor = FeatureExtractor(path, feature_threads())
    except IsitError:
        return None
    if extractor.metadata.backbone.name != definition.name:
        return None
    return Backbone(definition, path, extractor)


def resolve_backbone(name: str, log: Callable[[str], None]) -> Backbone:
    """Look ``name`` up (unknown names fail here, before any work) and provision it;
    into a temporary folder, for this run only, when the cache cannot be written."""
    from training.backbones.provision import backbone_path, export_backbone, provision

    definition = get_backbone(name)
    cached = backbone_path(definition)
    found = _opened(definition, cached) if cached.is_file() else None
    if found is not None:
        return found
    if cached.is_file() or _writable(cached.parent):
        path = provision(definition, log=log)
    else:  # the cache is only an optimisation: never a reason to stop
        log(
            f"warning: cannot write the cache in {cached.parent}; the backbone is built for "
            f"this run only. Set {settings.CACHE_ENV} to a writable folder to keep it."
        )
        temporary = Path(tempfile.mkdtemp(prefix="isit-backbone-"))
        atexit.register(shutil.rmtree, temporary, ignore_errors=True)
        log(f"Provisioning backbone {definition.name} (takes seconds)...")
        path = export_backbone(definition, temporary / cached.name)
    return Backbone(definition, path, FeatureExtractor(path, feature_threads()))


@dataclass(frozen=True)
class Features:
    """Backbone features ``[N, D]`` and class indices of each split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_aug: np.ndarray  # augmented views of training photos...
    aug_index: np.ndarray  # ...and the index (into train) of the photo each came from
    x_probe: np.ndarray
    probe_items: tuple[tuple[str, bytes], ...]  # (name, bytes) of unrelated photos
    cache_hits: int
    cache_computed: int

    @property
    def y_aug(self) -> np.ndarray:
        return self.y_train[self.aug_index]

    def all_x(self) -> np.ndarray:
        """Every photo's features, in train, val, test order (the augmented views'
        ``aug_index`` still points at the right rows: train comes first)."""
        return np.concatenate([self.x_train, self.x_val, self.x_test])

    def all_y(self) -> np.ndarray:
        return np.concatenate([self.y_train, self.y_val, self.y_test])


def _cached_probe(cache: FeatureCache, data: bytes) -> bool:
    """Whether the cache holds a probe's features (then it decoded before)."""
    return cache.holds(Entry(sha256_bytes(data), data))


def _entries(samples: Sequence[Sample], view: int = 0) -> list[Entry]:
    return [Entry(s.sha256, s.path, view) for s in samples]


def compute_features(
    data: TrainingData,
    backbone: Backbone,
    config: TrainConfig,
    progress: bool | None,
    table: str | os.PathLike[str] | None = None,
    *,
    meanwhile: Callable[[], object] | None = None,
) -> Features:
    """Features of every photo the later stages need, computing only what is neither in
    the cache nor in an `isit features` ``table`` (which must match the backbone);
    ``meanwhile()`` runs here while workers compute them (else before or after)."""
    # Temporary files of killed runs (issue 26): matched by isit's names, dead pids only.
    sweep_temp_files(settings.cache_root(), recursive=True, legacy=True)
    preset = None
    if table is not None:
        from training.data.features_table import feature_preset

        preset = feature_preset(table, backbone.extractor)
    cache = FeatureCache(backbone.extractor, progress=progress, preset=preset)
    k = config.augment
    aug_index = np.repeat(np.arange(len(data.train), dtype=np.int64), k)
    aug_entries = [
        Entry(data.train[i].sha256, data.train[i].path, view)
        for i, view in zip(aug_index, np.tile(np.arange(1, k + 1), len(data.train)), strict=True)
    ]
    cached = partial(_cached_probe, cache)
    probe_items = tuple(ood.probe_images(readable=cached)) if config.probes else ()
    parts = {
        "train": _entries(data.train),
        "val": _entries(data.val),
        "test": _entries(data.test),
        "aug": aug_entries,
        "probe": [Entry(sha256_bytes(b), b) for _, b in probe_items],
    }
    # One pass over every view: the backbone's workers stay busy from the first photo to
    # the last (it raises PhotosChanged naming every changed photo, after all of them).
    everything = [e for entries in parts.values() for e in entries]
    x = cache.get(everything, "photos' features", meanwhile=meanwhile)
    x_of = dict(zip(parts, np.split(x, np.cumsum([len(v) for v in parts.values()])[:-1]),
                    strict=True))  # fmt: skip
    features = Features(
        x_train=x_of["train"],
        y_train=data.y(data.train),
        x_val=x_of["val"],
        y_val=data.y(data.val),
        x_test=x_of["test"],
        y_test=data.y(data.test),
        x_aug=x_of["aug"],
        aug_index=aug_index,
        x_probe=x_of["probe"],
        probe_items=probe_items,
        cache_hits=cache.hits,
        cache_computed=cache.computed,
    )
    return features
