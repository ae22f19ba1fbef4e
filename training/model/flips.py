"""Test-time flips inside the graph: every answer averaged over the photo and its mirror.

The backbone runs on ``[image; mirrored image]`` (one batch of 2N), and its last feature
map is averaged with the mirror's map flipped back, before the pooling that makes
``features``. Pooling ignores where a value sits, so ``features`` is exactly the mean of
the two photos' features (what training computes from the cached mirror view,
:mod:`training.finetune.views`); and because the averaged map is the one pooled, the
heatmap (:mod:`training.model.heatmap`) stays exact, showing evidence from both views.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from isit.metadata import FEATURES, INPUT_NAME
from training.model.heatmap import spatial_map

P = "flips/"
_LAST = np.iinfo(np.int64).max
_FIRST = np.iinfo(np.int64).min


def _const(graph: onnx.GraphProto, name: str, values: list[int]) -> str:
    graph.initializer.append(numpy_helper.from_array(np.array(values, np.int64), P + name))
    return P + name


def _node(graph: onnx.GraphProto, op: str, inputs: list[str], output: str, **attrs) -> str:
    graph.node.append(helper.make_node(op, inputs, [output], name=output, **attrs))
    return output


def _mirror(graph: onnx.GraphProto, x: str, axis: int, output: str) -> str:
    """``x`` reversed along ``axis``."""
    return _node(graph, "Slice", [x, _const(graph, output + "/s", [-1]),
                                  _const(graph, output + "/e", [_FIRST]),
                                  _const(graph, output + "/a", [axis]),
                                  _const(graph, output + "/t", [-1])], P + output)  # fmt: skip


def _halves(graph: onnx.GraphProto, x: str) -> tuple[str, str]:
    """The first and second half of ``x`` along the batch axis (N is known at run time)."""
    shape = _node(graph, "Shape", [x], P + "shape")
    batch = _node(graph, "Slice", [shape, _const(graph, "b/s", [0]), _const(graph, "b/e", [1])],
                  P + "batch2")  # fmt: skip
    half = _node(graph, "Div", [batch, _const(graph, "two", [2])], P + "batch")
    zero, end, axis = (
        _const(graph, "zero", [0]),
        _const(graph, "end", [_LAST]),
        _const(graph, "ax", [0]),
    )
    first = _node(graph, "Slice", [x, zero, half, axis], P + "map_photo")
    second = _node(graph, "Slice", [x, half, end, axis], P + "map_mirror")
    return first, second


def add_flips(model: onnx.ModelProto) -> onnx.ModelProto:
    """Change the backbone graph ``model`` (``image`` -> ``features``, in place, returned)
    so ``features`` is the mean over the photo and its mirror image."""
    graph = model.graph
    found = spatial_map(graph)
    if found is None:
        raise ValueError("The backbone pools its features in a way flips do not know.")
    feature_map, layout = found
    width_axis = 3 if layout == "NCHW" else 2
    for node in graph.node:  # the backbone now reads the pair
        node.input[:] = [P + "pair" if i == INPUT_NAME else i for i in node.input]
    for node in graph.node:  # the old pooling becomes a dead end (pruned at load)
        node.output[:] = [P + "unused_features" if o == FEATURES else o for o in node.output]
    mirrored = _mirror(graph, INPUT_NAME, 2, "mirrored_image")  # NHWC input: width is 2
    _node(graph, "Concat", [INPUT_NAME, mirrored], P + "pair", axis=0)
    photo, mirror = _halves(graph, feature_map)
    back = _mirror(graph, mirror, width_axis, "map_mirror_back")
    total = _node(graph, "Add", [photo, back], P + "map_sum")
    half = P + "half"
    graph.initializer.append(numpy_helper.from_array(np.array(0.5, np.float32), half))
    averaged = _node(graph, "Mul", [total, half], P + "map")
    if layout == "NCHW":
        pooled = _node(graph, "GlobalAveragePool", [averaged], P + "pooled")
        _node(graph, "Flatten", [pooled], FEATURES, axis=1)
    else:
        _node(graph, "ReduceMean", [averaged], FEATURES, axes=[1, 2], keepdims=0)
    _topological(graph)
    return model


def _topological(graph: onnx.GraphProto) -> None:
    """Nodes in an order where every input exists before it is read (ONNX requires it)."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError("The flipped graph has a cycle or a missing tensor.")
        pending = rest
    copies = [onnx.NodeProto() for _ in ordered]
    for copy, node in zip(copies, ordered, strict=True):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)
