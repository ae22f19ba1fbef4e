"""A model.onnx's answers and its backbone's features for many photos, in one pass.

``model.onnx`` joins the backbone and the head at a tensor named ``features`` (see
:mod:`training.model.graph`); exposing it as an output gives the very features training
cached, without a second backbone file. A model without that tensor (a hand-made one)
falls back to a small thumbnail of the model's input pixels, good enough to tell
near-copies apart, and says so (``features_kind``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isit.bundle import ModelBundle, load_bundle, session_options
from isit.errors import IsitError
from isit.imaging import preprocess, read_image_bytes
from isit.metadata import FEATURES, INPUT_NAME, OOD_SCORE, PROBABILITIES
from training import settings

BATCH_SIZE = settings.BACKBONE_BATCH
THUMB_SIDE = 8  # the fallback features: an 8 x 8 x 3 average of the input pixels


@dataclass(frozen=True)
class Scored:
    """Photos the model answered (in input order) and those it could not read."""

    paths: list[Path]
    probabilities: np.ndarray  # [N, C]
    ood: np.ndarray  # [N]
    features: np.ndarray  # [N, D]
    unreadable: list[tuple[Path, str]]


class ModelFeatures:
    """``run(batch) -> features`` like :class:`isit.feature_extractor.FeatureExtractor` (so
    the feature cache takes it), and :meth:`score` for answers and features together."""

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        import onnx
        import onnxruntime as ort

        self.bundle: ModelBundle = load_bundle(model_path)  # checked as the Function checks it
        self.metadata = self.bundle.metadata
        self.spec = self.metadata.preprocess
        model = onnx.load(str(model_path))
        produced = {name for node in model.graph.node for name in node.output}
        self.has_backbone_features = FEATURES in produced
        if self.has_backbone_features:
            dim = self.metadata.backbone.feature_dim
            model.graph.output.append(
                onnx.helper.make_tensor_value_info(FEATURES, onnx.TensorProto.FLOAT, ["N", dim])
            )
            self.feature_dim = dim
        else:
            self.feature_dim = THUMB_SIDE * THUMB_SIDE * 3
        self.session = ort.InferenceSession(
            model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"]
        )

    @property
    def features_kind(self) -> str:
        if self.has_backbone_features:
            return f"the {self.metadata.backbone.name} backbone's features"
        return "small thumbnails (this model exposes no backbone features)"

    def answers(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normalised ``N x S x S x 3`` to (probabilities, ood scores, features)."""
        batch = np.ascontiguousarray(batch, np.float32)
        wanted = [PROBABILITIES, OOD_SCORE, *([FEATURES] if self.has_backbone_features else [])]
        outputs = self.session.run(wanted, {INPUT_NAME: batch})
        features = outputs[2] if self.has_backbone_features else _thumbnails(batch)
        return (
            np.asarray(outputs[0], np.float32),
            np.asarray(outputs[1], np.float32).reshape(-1),
            np.asarray(features, np.float32),
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, self.feature_dim), np.float32)
        return self.answers(batch)[2]

    def score(self, paths: Sequence[Path]) -> Scored:
        """Every readable photo's answers and features; unreadable ones listed, not fatal."""
        kept: list[Path] = []
        unreadable: list[tuple[Path, str]] = []
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        batch: list[np.ndarray] = []
        for n, path in enumerate(paths):
            try:
                batch.append(preprocess(read_image_bytes(path), self.spec))
                kept.append(path)
            except (IsitError, OSError) as exc:
                unreadable.append((path, getattr(exc, "message", None) or str(exc)))
            if batch and (len(batch) == BATCH_SIZE or n == len(paths) - 1):
                parts.append(self.answers(np.stack(batch)))
                batch = []
        k = len(self.metadata.labels)
        if not parts:
            empty = np.zeros((0,), np.float32)
            return Scored([], np.zeros((0, k)), empty, np.zeros((0, self.feature_dim)), unreadable)
        p, ood, features = (np.concatenate(column) for column in zip(*parts, strict=True))
        return Scored(kept, p, ood, features, unreadable)


def _thumbnails(batch: np.ndarray) -> np.ndarray:
    """``N x S x S x 3`` to ``N x (8*8*3)``: block averages of the input pixels."""
    n, size = batch.shape[0], batch.shape[1]
    block = size // THUMB_SIDE
    cropped = batch[:, : block * THUMB_SIDE, : block * THUMB_SIDE, :]
    pooled = cropped.reshape(n, THUMB_SIDE, block, THUMB_SIDE, block, 3).mean(axis=(2, 4))
    return pooled.reshape(n, -1)


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine similarity is then a dot product)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)
