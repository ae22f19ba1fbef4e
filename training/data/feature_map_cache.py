"""The backbone's last feature maps of the report's gallery photos, kept between runs.

Why: the report shows where the model looked on a few dozen held-out photos (its
galleries, training.evaluation.where_it_looked). A heatmap is the backbone's feature map
times the head's weights; the head changes with every retrain, the backbone's map of a
photo never does. Kept, a retrain computes the galleries' heatmaps in NumPy instead of
running the backbone on every gallery photo again.

Key: the sha256 of the bytes the map was computed from, under the backbone's cache key
(training.data.feature_cache.cache_key). Only the galleries' photos are kept (a map is
many times the size of the pooled features), at most ``settings.FEATURE_MAPS_KEPT_MB``
in all: the least recently used go first. A fine-tuned or flipped backbone keeps none
(its maps change with every run).
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

from isit.feature_extractor import FeatureExtractor
from training import settings
from training.atomic import atomic_write_with
from training.data.feature_cache import cache_key


class FeatureMapCache:
    """``[D, h, w]`` float32 feature maps (channels first) by the sha256 of a photo's file."""

    def __init__(self, extractor: FeatureExtractor, root: str | os.PathLike[str] | None = None):
        self.feature_dim = extractor.feature_dim
        self.base = Path(root) if root is not None else settings.cache_root() / "feature_maps"
        self.dir = self.base / cache_key(extractor)

    def _path(self, sha256: str) -> Path:
        return self.dir / sha256[:2] / f"{sha256}.npy"

    def get(self, sha256: str) -> np.ndarray | None:
        """The map of the photo whose file bytes have this ``sha256``, or None (absent,
        damaged, or of another shape: computed again)."""
        path = self._path(sha256)
        try:
            found = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if found.ndim != 3 or found.shape[0] != self.feature_dim or found.dtype != np.float32:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last to go when the maps are trimmed
        return found

    def put(self, sha256: str, feature_map: np.ndarray) -> None:
        """Keep ``feature_map`` for the photo with this ``sha256`` (best effort, not
        fsynced: a lost entry is computed again)."""
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(feature_map, dtype=np.float32), allow_pickle=False)
        with contextlib.suppress(OSError):
            atomic_write_with(self._path(sha256), lambda h: h.write(buffer.getvalue()), sync=False)

    def trim(self, limit_mb: float = settings.FEATURE_MAPS_KEPT_MB) -> int:
        """Remove the least recently used maps (every backbone's) until they hold at most
        ``limit_mb``; returns how many went."""
        found = []
        for path in self.base.glob("*/*/*.npy"):
            with contextlib.suppress(OSError):
                info = path.stat()
                found.append((info.st_mtime, info.st_size, path))
        total, limit, removed = sum(size for _, size, _ in found), limit_mb * 2**20, 0
        for _, size, path in sorted(found, key=lambda item: item[0]):
            if total <= limit:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
            total -= size
        return removed
