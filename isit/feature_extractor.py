"""ImageNet-pretrained features through onnxruntime, from a backbone ONNX file.

Training computes (and caches) features with this class, so the pixels the head is
trained on go through exactly the decoding and preprocessing the Function uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from isit.bundle import open_session
from isit.errors import ModelError
from isit.imaging import DEFAULT_LIMITS, DecodeLimits, preprocess_batch
from isit.metadata import FEATURES, INPUT_NAME


class FeatureExtractor:
    """A backbone ONNX (kind ``backbone``): normalised images in, pooled features out."""

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        self.path = Path(path)
        self.session, self.metadata = open_session(self.path, threads)
        if self.metadata.kind != "backbone":
            raise ModelError(f"{self.path.name} is a {self.metadata.kind}, not a backbone.")
        self.spec = self.metadata.preprocess
        self.feature_dim = self.metadata.backbone.feature_dim

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``N x S x S x 3`` normalised float32 to ``N x D`` features."""
        if len(batch) == 0:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        (features,) = self.session.run(
            [FEATURES], {INPUT_NAME: np.ascontiguousarray(batch, np.float32)}
        )
        return np.asarray(features, dtype=np.float32)

    def from_bytes(
        self, images: Sequence[bytes], *, limits: DecodeLimits = DEFAULT_LIMITS
    ) -> np.ndarray:
        return self.run(preprocess_batch(images, self.spec, limits=limits))
