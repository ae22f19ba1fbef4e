"""Cached views of a photo for fine-tuning and test-time flips: the photo, its mirror image
and the augmented views, through any backbone-like ONNX (the frozen trunk's activations,
or a backbone's features).

The mirror is the preprocessed photo flipped left to right: exactly what the model's
test-time flip computes inside the graph (:mod:`training.model.flips`), so a feature
cached here is the one the exported model sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from isit.feature_extractor import FeatureExtractor
from training.data.feature_cache import Entry, FeatureCache

# A view number no augmentation uses (they count 1, 2, ...): the mirrored photo.
MIRROR = 1_000_000


class ViewCache(FeatureCache):
    """:class:`FeatureCache` that also knows the ``MIRROR`` view."""

    def _pixels(self, entry: Entry) -> tuple[np.ndarray | None, str | None]:
        if entry.view != MIRROR:
            return super()._pixels(entry)
        pixels, sha256 = super()._pixels(Entry(entry.sha256, entry.source, 0))
        if pixels is None:
            return None, None
        return np.ascontiguousarray(pixels[:, ::-1, :]), sha256  # HWC: width is axis 1


def view_entries(entries: Sequence[Entry], view: int) -> list[Entry]:
    return [Entry(e.sha256, e.source, view) for e in entries]


def cached_views(
    extractor: FeatureExtractor,
    entries: Sequence[Entry],
    view: int | None = 0,
    progress: bool | None = False,
    desc: str = "views",
) -> np.ndarray:
    """``[N, D]`` outputs of ``extractor`` for ``view`` of each entry (None: each
    entry's own view), from the cache."""
    if not entries:
        return np.zeros((0, extractor.feature_dim), np.float32)
    cache = ViewCache(extractor, progress=progress)
    return cache.get(list(entries) if view is None else view_entries(entries, view), desc)
