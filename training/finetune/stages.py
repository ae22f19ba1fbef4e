"""Where a backbone is cut for fine-tuning, and the two halves: the frozen trunk (image ->
activations at the cut, run once per photo in onnxruntime and cached) and the tail (cut ->
pooled ``features``, rebuilt in Keras to train).

A "stage" is a run of blocks of one output width; the 1x1 head convolution always goes
with the last one. Cutting at a stage's input keeps the cached activations small (7x7 or
14x14 spatial) and the tail cheap to run and train on a CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from isit.feature_extractor import FeatureExtractor
from isit.metadata import FEATURES, BackboneInfo, ModelMetadata
from training.backbones.backbone_errors import BackboneError
from training.backbones.registry import BackboneDef

# Keras layer whose output is the input of the last ``stages`` stages, per backbone.
# EfficientNet-Lite0: block 15 (192 -> 320, 7x7) is the last stage, blocks 11-14 (112 ->
# 192, from 14x14) the one before. MobileNetV2: features.17 (160 -> 320), 14-16 (96 -> 160).
CUTS: dict[str, dict[int, str]] = {
    "efficientnet_lite0": {1: "_blocks_14_add", 2: "_blocks_10_add"},
    "mobilenet_v2": {1: "features_16_add", 2: "features_13_add"},
}
# Bump when the trunk's export changes: cached trunk files and activations become stale.
TRUNK_VERSION = "1"


def check_supported(backbone: str, stages: int) -> None:
    """A typed error naming what can be fine-tuned, before any work."""
    if stages not in CUTS.get(backbone, {}):
        known = ", ".join(f"{name} ({', '.join(map(str, cuts))} stages)"
                          for name, cuts in CUTS.items())  # fmt: skip
        raise BackboneError(
            f"Fine-tuning {stages} stage(s) of {backbone} is not supported; choose one of: {known}."
        )


@dataclass
class Split:
    """The pretrained Keras network, and its tail from the cut (sharing its layers, so
    training the tail changes the whole network)."""

    backbone: BackboneDef
    stages: int
    full: Any  # keras.Model: image -> features
    tail: Any  # keras.Model: activations at the cut [N, h, w, c] -> features
    pretrained: list[np.ndarray]  # the tail's weights before any fine-tuning

    @property
    def cut_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.tail.inputs[0].shape[1:])  # type: ignore[return-value]

    def reset(self) -> None:
        """Back to the pretrained weights (every fold starts from them)."""
        self.tail.set_weights(self.pretrained)

    def features(self, activations: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Pooled features ``[N, D]`` of flattened cut activations ``[N, h*w*c]``."""
        x = activations.reshape((-1, *self.cut_shape))
        out = [np.asarray(self.tail(x[i : i + batch_size], training=False))
               for i in range(0, len(x), batch_size)]  # fmt: skip
        if not out:
            return np.zeros((0, int(self.tail.output.shape[-1])), np.float32)
        return np.concatenate(out).astype(np.float32)


def split_backbone(backbone: BackboneDef, stages: int) -> Split:
    """Build ``backbone`` in Keras and cut it before its last ``stages`` stages."""
    from training.tf_runtime import import_keras

    keras = import_keras()
    check_supported(backbone.name, stages)
    full = backbone.build_keras()
    full.trainable = True  # provisioned networks come frozen; the tail's layers train
    cut = full.get_layer(CUTS[backbone.name][stages]).output
    tail = keras.Model(cut, full.output, name=f"{backbone.name}_tail{stages}")
    return Split(backbone, stages, full, tail, [w.copy() for w in tail.get_weights()])


def trunk_path(backbone: BackboneDef, stages: int, cache: Path) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", backbone.name)
    key = re.sub(r"[^A-Za-z0-9_.-]+", "-", backbone.cache_key)[:16]
    return cache / "backbones" / f"{safe}-trunk{stages}-{key}-t{TRUNK_VERSION}.onnx"


def trunk_info(backbone: BackboneDef, stages: int, dim: int) -> BackboneInfo:
    """The trunk's identity: its own name, so its cached activations never mix with
    features (the feature cache is keyed by it)."""
    return BackboneInfo(f"{backbone.name}.trunk{stages}", backbone.weights_sha256, dim)


def provision_trunk(split: Split, cache: Path) -> FeatureExtractor:
    """The frozen trunk as a backbone ONNX (``image`` -> flattened cut activations as
    ``features``), exported once and cached beside the backbones."""
    path = trunk_path(split.backbone, split.stages, cache)
    if not path.is_file():
        from training.tf_convert import export_function
        from training.tf_runtime import import_keras

        keras = import_keras()
        cut = split.full.get_layer(CUTS[split.backbone.name][split.stages]).output
        trunk = keras.Model(split.full.input, keras.layers.Flatten()(cut))
        spec = split.backbone.spec
        dim = int(np.prod(split.cut_shape))
        meta = ModelMetadata(kind="backbone", name=path.stem, version=TRUNK_VERSION,
                             preprocess=spec, backbone=trunk_info(split.backbone, split.stages,
                                                                  dim))  # fmt: skip
        probe = np.random.default_rng(0).normal(0.0, 1.0, (2, spec.size, spec.size, 3))
        export_function(trunk, path, output_names=[FEATURES], metadata=meta,
                        verify_with=probe.astype(np.float32), atol=1e-4)  # fmt: skip
    return FeatureExtractor(path)
