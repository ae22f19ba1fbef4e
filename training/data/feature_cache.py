"""Backbone features computed once per image and kept on disk.

Why: the backbone is frozen, so an image's features never change for a given backbone
and preprocessing. Re-training with other settings (epochs, seed, hidden layer, ...)
then costs no backbone pass at all.

Key: sha256 of the file bytes + backbone name + weights sha256 + preprocessing spec
(+ the augmentation view index; view 0 is the un-augmented image). Features are computed
with :class:`isit.feature_extractor.FeatureExtractor`, so the pixels go through the core's
decoding and resize rule, exactly as when the Function serves the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance
from tqdm import tqdm

from isit.feature_extractor import FeatureExtractor
from isit.imaging import decode, normalize, read_image_bytes, to_pixels
from training import settings
from training.atomic import atomic_write_with

# Bump when the augmentation recipe changes: old augmented views are then not reused.
AUGMENT_VERSION = 1


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One image view to featurise: the file's sha256, where its bytes are, which view."""

    sha256: str
    source: Path | bytes
    view: int = 0  # 0 = the image itself; k >= 1 = the k-th augmented view

    def read(self) -> bytes:
        return self.source if isinstance(self.source, bytes) else read_image_bytes(self.source)


def augment(img: Image.Image, sha256: str, view: int) -> Image.Image:
    """The ``view``-th augmented copy: random crop, flip, small colour/brightness changes.

    Seeded by (file hash, view), so a cached view is always the same picture.
    """
    seed = int(sha256[:12], 16) * 1009 + view * 7919 + AUGMENT_VERSION
    rng = np.random.default_rng(seed)
    width, height = img.size
    area = width * height * rng.uniform(0.6, 1.0)
    aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    crop_w = int(min(width, round(np.sqrt(area * aspect))))
    crop_h = int(min(height, round(np.sqrt(area / aspect))))
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    out = img.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.85, 1.15))
    out = ImageEnhance.Contrast(out).enhance(rng.uniform(0.85, 1.15))
    return ImageEnhance.Color(out).enhance(rng.uniform(0.85, 1.15))


class FeatureCache:
    """Features of image views for one backbone, from disk when known, else computed."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        root: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 32,
        progress: bool | None = None,
        preset: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.extractor = extractor
        # sha256 -> features of the un-augmented image, computed elsewhere (the features
        # table: training.data.features_table.feature_preset); consulted before the disk cache.
        self.preset = preset or {}
        self.spec = extractor.spec
        backbone = extractor.metadata.backbone
        tag = json.dumps(
            {
                "backbone": backbone.name,
                "weights_sha256": backbone.weights_sha256,
                "preprocess": self.spec.to_dict(),
            },
            sort_keys=True,
        )
        self.key = f"{backbone.name}-{hashlib.sha256(tag.encode()).hexdigest()[:16]}"
        self.dir = Path(root) if root is not None else settings.cache_root() / "features" / self.key
        self.batch_size = batch_size
        # None: a progress bar only when a person watches (stderr is a terminal).
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.hits = 0  # views read from disk
        self.computed = 0  # views run through the backbone

    def _path(self, entry: Entry) -> Path:
        suffix = "" if entry.view == 0 else f".aug{AUGMENT_VERSION}-{entry.view}"
        return self.dir / entry.sha256[:2] / f"{entry.sha256}{suffix}.npy"

    def _load(self, entry: Entry) -> np.ndarray | None:
        vector = self.preset.get(entry.sha256) if entry.view == 0 else None
        if vector is not None and vector.shape == (self.extractor.feature_dim,):
            return vector
        path = self._path(entry)
        try:
            vector = np.load(path, allow_pickle=False)
        except (OSError, ValueError):  # missing or half-written by a crashed run
            return None
        return vector if vector.shape == (self.extractor.feature_dim,) else None

    def _store(self, entry: Entry, vector: np.ndarray) -> None:
        # Atomic: a concurrent or interrupted run never sees half a file. Not fsynced: a
        # cache entry lost in a power cut is just computed again.
        data = vector.astype(np.float32)
        atomic_write_with(
            self._path(entry), lambda h: np.save(h, data, allow_pickle=False), sync=False
        )

    def _pixels(self, entry: Entry) -> np.ndarray:
        """Decode + (augment) + the core's resize rule + normalisation."""
        data = entry.read()
        # Augmented crops need the full-resolution image; view 0 may use JPEG draft mode.
        decoded = decode(data, min_side=self.spec.size if entry.view == 0 else 0)
        img = decoded.image if entry.view == 0 else augment(decoded.image, entry.sha256, entry.view)
        return normalize(to_pixels(img, self.spec), self.spec)

    def _batches(
        self, entries: Sequence[Entry], pool: ThreadPoolExecutor
    ) -> Iterator[tuple[list[int], np.ndarray]]:
        """Decoded batches, the next one decoding (in threads) while the current one runs."""
        chunks = [
            list(range(i, min(i + self.batch_size, len(entries))))
            for i in range(0, len(entries), self.batch_size)
        ]

        def submit(chunk: list[int]) -> list[Future[np.ndarray]]:
            return [pool.submit(self._pixels, entries[i]) for i in chunk]

        pending = submit(chunks[0]) if chunks else []
        for n, chunk in enumerate(chunks):
            current = pending
            pending = submit(chunks[n + 1]) if n + 1 < len(chunks) else []
            yield chunk, np.stack([f.result() for f in current])

    def get(self, entries: Sequence[Entry], desc: str = "features") -> np.ndarray:
        """``len(entries) x D`` float32 features, computing (and storing) only what is new."""
        out = np.zeros((len(entries), self.extractor.feature_dim), dtype=np.float32)
        missing: list[int] = []
        for i, entry in enumerate(entries):
            vector = self._load(entry)
            if vector is None:
                missing.append(i)
            else:
                out[i] = vector
        self.hits += len(entries) - len(missing)
        if not missing:
            return out
        todo = [entries[i] for i in missing]
        bar = tqdm(
            total=len(todo),
            desc=f"{desc} ({len(entries) - len(missing)} cached)",
            unit="img",
            file=sys.stderr,
            disable=not self.progress,
            leave=False,
        )
        with ThreadPoolExecutor(max_workers=2) as pool, bar:
            for chunk, batch in self._batches(todo, pool):
                features = self.extractor.run(batch)
                for j, vector in zip(chunk, features, strict=True):
                    self._store(todo[j], vector)
                    out[missing[j]] = vector
                bar.update(len(chunk))
        self.computed += len(todo)
        return out
