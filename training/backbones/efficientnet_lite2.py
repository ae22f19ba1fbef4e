"""EfficientNet-Lite2 (ImageNet-1k, ``efficientnet-lite2-9656183e.pth``), 260 px input.

The same rebuild as :mod:`training.backbones.efficientnet_lite` (Lite0), with Lite2's
stages; the registry needs one module per backbone (NAME, SPEC, FEATURE_DIM, WEIGHTS,
build_keras).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from isit.imaging import PreprocessSpec
from training.backbones import weights
from training.backbones.efficientnet_lite import FEATURE_DIM, LITE2_STAGES, build_variant

if TYPE_CHECKING:
    import keras

NAME = "efficientnet_lite2"
WEIGHTS = weights.EFFICIENTNET_LITE2
SPEC = PreprocessSpec(size=260, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0))
__all__ = ["FEATURE_DIM", "NAME", "SPEC", "WEIGHTS", "build_keras"]


def build_keras(
    *, classifier: bool = False, state: Mapping[str, np.ndarray] | None = None
) -> keras.Model:
    """The frozen network: ``image`` [N, 260, 260, 3] -> ``features`` [N, 1280] (or the
    ImageNet softmax with ``classifier=True``)."""
    return build_variant(NAME, SPEC.size, LITE2_STAGES,
                         state if state is not None else WEIGHTS.load(),
                         classifier=classifier)  # fmt: skip
