"""Keras layers filled with torch weights: the layout conversions, in one place.

Why a helper: both offline backbones are torch networks rebuilt in Keras. Every layer
is created through :class:`TorchToKeras`, which records which torch tensor goes into
which Keras weight (transposed from torch's layout) and, at the end, refuses a state
dict with tensors that were never used or a network that asked for a missing one: a
mismatch between our rebuild and the reference cannot pass silently.

Layouts: torch conv ``(out, in, kh, kw)`` -> Keras ``(kh, kw, in, out)``; torch
depthwise ``(C, 1, kh, kw)`` -> Keras ``(kh, kw, C, 1)``; torch Linear ``(out, in)`` ->
Keras Dense ``(in, out)``; BatchNorm ``weight, bias, running_mean, running_var`` ->
``gamma, beta, moving_mean, moving_variance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import keras
import numpy as np

from training.backbones.backbone_errors import BackboneError

# "symmetric": torch's padding=(k-1)//2 on every side. "same": TensorFlow's SAME (extra
# pixel at the bottom/right when the total is odd) - what Keras' padding="same" does.
Padding = Literal["symmetric", "same"]


class TorchToKeras:
    """Creates Keras layers and remembers the torch tensors to load into each one."""

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        self.state = dict(state)
        self.used: set[str] = set()
        self._pending: list[tuple[keras.layers.Layer, list[np.ndarray]]] = []

    def take(self, key: str) -> np.ndarray:
        if key not in self.state:
            raise BackboneError(f"The weights file has no tensor {key!r}; wrong file?")
        self.used.add(key)
        return np.asarray(self.state[key], dtype=np.float32)

    @staticmethod
    def name(prefix: str) -> str:
        return prefix.replace(".", "_")

    def _pad(self, x: keras.KerasTensor, kernel: int, stride: int, padding: Padding, name: str):
        """Returns (input, keras padding) so the conv pads exactly like the reference."""
        if padding == "same" or stride == 1:
            # For odd kernels at stride 1, symmetric (k-1)//2 padding *is* SAME.
            return x, "same"
        pad = (kernel - 1) // 2
        return keras.layers.ZeroPadding2D(pad, name=name + "_pad")(x), "valid"

    def conv(
        self,
        x: keras.KerasTensor,
        prefix: str,
        *,
        stride: int = 1,
        padding: Padding = "symmetric",
        bias: bool = False,
    ) -> keras.KerasTensor:
        weight = self.take(prefix + ".weight")
        out_channels, _, kh, kw = weight.shape
        name = self.name(prefix)
        x, keras_padding = self._pad(x, kh, stride, padding, name)
        layer = keras.layers.Conv2D(
            out_channels, (kh, kw), strides=stride, padding=keras_padding, use_bias=bias, name=name
        )
        arrays = [weight.transpose(2, 3, 1, 0)]
        if bias:
            arrays.append(self.take(prefix + ".bias"))
        self._pending.append((layer, arrays))
        return layer(x)

    def depthwise(
        self, x: keras.KerasTensor, prefix: str, *, stride: int = 1, padding: Padding = "symmetric"
    ) -> keras.KerasTensor:
        weight = self.take(prefix + ".weight")
        channels, one, kh, kw = weight.shape
        if one != 1 or channels != x.shape[-1]:
            raise BackboneError(f"{prefix} is not a depthwise convolution over {x.shape[-1]}.")
        name = self.name(prefix)
        x, keras_padding = self._pad(x, kh, stride, padding, name)
        layer = keras.layers.DepthwiseConv2D(
            (kh, kw), strides=stride, padding=keras_padding, use_bias=False, name=name
        )
        self._pending.append((layer, [weight.transpose(2, 3, 0, 1)]))
        return layer(x)

    def batchnorm(self, x: keras.KerasTensor, prefix: str, *, eps: float) -> keras.KerasTensor:
        layer = keras.layers.BatchNormalization(epsilon=eps, momentum=0.99, name=self.name(prefix))
        arrays = [
            self.take(prefix + suffix)
            for suffix in (".weight", ".bias", ".running_mean", ".running_var")
        ]
        self._pending.append((layer, arrays))
        return layer(x)

    def dense(
        self, x: keras.KerasTensor, prefix: str, *, activation: str | None = None
    ) -> keras.KerasTensor:
        weight = self.take(prefix + ".weight")
        layer = keras.layers.Dense(weight.shape[0], activation=activation, name=self.name(prefix))
        self._pending.append((layer, [weight.T, self.take(prefix + ".bias")]))
        return layer(x)

    @staticmethod
    def relu6(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
        return keras.layers.ReLU(max_value=6.0, name=name)(x)

    @staticmethod
    def add(name: str) -> keras.layers.Layer:
        return keras.layers.Add(name=name)

    def load(self, *, unused_ok: Iterable[str] = ()) -> None:
        """Copy the recorded tensors into the (now built) layers; check nothing is left."""
        for layer, arrays in self._pending:
            expected = [tuple(w.shape) for w in layer.weights]
            if expected != [a.shape for a in arrays]:
                raise BackboneError(
                    f"Layer {layer.name}: weights of shapes {[a.shape for a in arrays]} do not "
                    f"fit {expected}."
                )
            layer.set_weights(arrays)
        ignored = tuple(unused_ok)
        left = sorted(
            k
            for k in self.state
            if k not in self.used
            and not k.endswith(".num_batches_tracked")
            and not k.startswith(ignored)
        )
        if left:
            raise BackboneError(
                f"{len(left)} tensors of the weights file were not used (first: {left[:3]}); "
                "the rebuilt network does not match the file."
            )


def freeze(model: keras.Model) -> keras.Model:
    """Feature extractors are frozen: BatchNorm stays in inference mode, no weights train."""
    model.trainable = False
    return model
