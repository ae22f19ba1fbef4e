"""Small ONNX file helpers shared by the backbone provisioning and the model export,
without TensorFlow: the batch dimension's name and the atomic write."""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from training.atomic import atomic_write_with

BATCH_DIM = "N"


def name_batch_dims(model: onnx.ModelProto) -> None:
    """Call the dynamic first dimension of every input and output ``N``."""
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH_DIM


def write_onnx_atomically(model: onnx.ModelProto, path: str | os.PathLike[str]) -> Path:
    """Serialise to a temporary file next to ``path``, fsync, then rename over ``path``
    (:func:`training.atomic.atomic_write_with`: ordinary permissions, not mkstemp's 0600)."""
    payload = model.SerializeToString()
    return atomic_write_with(path, lambda handle: handle.write(payload))
