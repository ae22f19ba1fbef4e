"""torchvision's MobileNetV2 (ImageNet-1k, ``mobilenet_v2-b0353104.pth``) rebuilt in Keras 3.

Exactly torchvision's network, not ``keras.applications.MobileNetV2``: every 3x3 conv
pads symmetrically by 1 (Keras' own model pads its stride-2 convs only at the bottom
and right, which shifts every feature map), ReLU6, inverted residuals, BatchNorm
epsilon 1e-5. Input: NHWC float32 normalised with ImageNet mean/std (the core's
``PreprocessSpec()`` defaults). Only the weights are transposed (NCHW torch -> NHWC Keras).
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

NAME = "mobilenet_v2"
WEIGHTS = weights.MOBILENET_V2
SPEC = PreprocessSpec()  # ImageNet mean/std in 0..255 units, 224x224
FEATURE_DIM = 1280
BN_EPS = 1e-5
# (expansion t, output channels c, repeats n, first stride s), as in the paper / torchvision.
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip


def _conv_bn_relu(t: TorchToKeras, x, prefix: str, *, stride: int = 1, depthwise: bool = False):
    """torchvision's ConvBNReLU: ``prefix.0`` conv, ``prefix.1`` BatchNorm, then ReLU6."""
    if depthwise:
        x = t.depthwise(x, prefix + ".0", stride=stride)
    else:
        x = t.conv(x, prefix + ".0", stride=stride)
    x = t.batchnorm(x, prefix + ".1", eps=BN_EPS)
    return t.relu6(x, t.name(prefix) + "_relu6")


def _inverted_residual(t: TorchToKeras, x, index: int, expand: int, out: int, stride: int):
    prefix = f"features.{index}.conv"
    inputs = x
    part = 0
    if expand != 1:  # 1x1 expansion
        x = _conv_bn_relu(t, x, f"{prefix}.{part}")
        part += 1
    x = _conv_bn_relu(t, x, f"{prefix}.{part}", stride=stride, depthwise=True)
    x = t.conv(x, f"{prefix}.{part + 1}")  # 1x1 linear projection
    x = t.batchnorm(x, f"{prefix}.{part + 2}", eps=BN_EPS)
    if stride == 1 and inputs.shape[-1] == out:
        x = t.add(name=f"features_{index}_add")([inputs, x])
    return x


def build_keras(
    *, classifier: bool = False, state: Mapping[str, np.ndarray] | None = None
) -> keras.Model:
    """The frozen network with the pretrained weights.

    ``classifier=False``: ``image`` -> global-average-pooled ``features`` ``[N, 1280]``.
    ``classifier=True``: the full ImageNet classifier, ``image`` -> softmax ``[N, 1000]``
    (the .pth's Linear layer; used to prove the weights really are pretrained).
    """
    import keras

    from training.backbones.torch_to_keras import TorchToKeras, freeze

    t = TorchToKeras(state if state is not None else WEIGHTS.load())
    image = keras.Input((SPEC.size, SPEC.size, 3), name=INPUT_NAME, dtype="float32")
    x = _conv_bn_relu(t, image, "features.0", stride=2)
    index = 1
    for expand, out, repeats, first_stride in SETTINGS:
        for i in range(repeats):
            x = _inverted_residual(t, x, index, expand, out, first_stride if i == 0 else 1)
            index += 1
    x = _conv_bn_relu(t, x, f"features.{index}")  # 1x1 to 1280
    x = keras.layers.GlobalAveragePooling2D(name=FEATURES)(x)
    if classifier:
        # torchvision: Dropout (inactive at inference) then Linear(1280, 1000).
        x = t.dense(x, "classifier.1", activation="softmax")
    model = keras.Model(image, x, name=NAME + ("_imagenet" if classifier else ""))
    t.load(unused_ok=() if classifier else ("classifier.",))
    return freeze(model)
