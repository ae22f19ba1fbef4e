"""The ``heatmap`` output of model.onnx: where in the photo the evidence for each class is.

For the linear head (softmax of ``features @ K + b``, standardisation folded into ``K``)
the class activation map is exact: ``features`` is the spatial mean of the backbone's
last feature map ``M`` ``[N, D, h, w]``, so with ``K'`` = ``K`` minus its mean over
classes, ``heatmap[n, c] = M[n] . K'[:, c]`` ``[h, w]`` and its spatial mean is class c's
logit up to a term all classes share (which softmax ignores). ``K'`` shows what favours
a class over the others, not what every class responds to. The graph gets three nodes
(transpose, matmul, transpose) after the backbone's last feature map; a temperature
scales every logit alike, so it does not change where the evidence is.

A head with a hidden layer has no such exact map: its model gets no ``heatmap`` output,
and the API says so instead of showing a wrong picture.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from isit.metadata import FEATURES, HEATMAP

# Ops between the pooled tensor and ``features`` that only drop unit dimensions.
_RESHAPES = ("Squeeze", "Reshape", "Flatten", "Identity")


def spatial_map(graph: onnx.GraphProto) -> tuple[str, str] | None:
    """``(tensor, layout)`` of the feature map pooled into ``features`` ("NCHW" or
    "NHWC"), or None when the backbone pools some other way."""
    producers = {out: node for node in graph.node for out in node.output}
    node = producers.get(FEATURES)
    while node is not None and node.op_type in _RESHAPES:
        node = producers.get(node.input[0])
    if node is None:
        return None
    if node.op_type == "GlobalAveragePool":
        return node.input[0], "NCHW"
    if node.op_type == "ReduceMean":
        axes = next((list(a.ints) for a in node.attribute if a.name == "axes"), None)
        if axes is None and len(node.input) > 1:
            init = {i.name: i for i in graph.initializer}.get(node.input[1])
            axes = numpy_helper.to_array(init).tolist() if init is not None else None
        if axes in ([2, 3], [-2, -1]):
            return node.input[0], "NCHW"
        if axes in ([1, 2], [-3, -2]):
            return node.input[0], "NHWC"
    return None


def add_heatmap(model: onnx.ModelProto, kernel: np.ndarray) -> bool:
    """Add the ``heatmap`` output ``[N, C, h, w]`` to ``model`` (changed in place);
    False when the backbone's pooling is not one this knows."""
    found = spatial_map(model.graph)
    if found is None:
        return False
    tensor, layout = found
    kernel = np.ascontiguousarray(kernel, dtype=np.float32)
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(kernel, "heatmap/kernel"))
    source = tensor
    if layout == "NCHW":
        graph.node.append(
            helper.make_node("Transpose", [tensor], ["heatmap/nhwd"], perm=[0, 2, 3, 1])
        )
        source = "heatmap/nhwd"
    graph.node.append(helper.make_node("MatMul", [source, "heatmap/kernel"], ["heatmap/nhwc"]))
    graph.node.append(helper.make_node("Transpose", ["heatmap/nhwc"], [HEATMAP], perm=[0, 3, 1, 2]))
    graph.output.append(
        helper.make_tensor_value_info(HEATMAP, TensorProto.FLOAT, ["N", kernel.shape[1], "h", "w"])
    )
    return True


def with_feature_map_output(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """A copy of ``model`` that also outputs the pooled feature map (for parity checks)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    found = spatial_map(copy.graph)
    if found is None:
        raise ValueError("the backbone's feature map was not found")
    tensor, layout = found
    copy.graph.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None))
    return copy, layout
