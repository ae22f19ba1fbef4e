"""A small but real isit classifier ONNX for tests and benchmarks, built with ``onnx.helper``.

It honours the graph contract of :mod:`isit.metadata`: input ``image`` float32
``[N, 224, 224, 3]`` (normalised with the ImageNet mean/std), outputs ``probabilities``
``[N, C]`` and ``ood_score`` ``[N]``. The "backbone" is the image's mean colour (0..1 RGB);
the head is a nearest-centroid softmax, which is linear in the colour:
``-k * |x - c|^2 = 2k x.c - k|c|^2 - k|x|^2`` and the last term cancels in the softmax.
``ood_score`` is the distance to the nearest class centroid, so a red photo is
``red_thing``, a blue one ``blue_thing`` and a grey one ``unknown``.

Also: helpers making photos of a given colour in any Pillow format.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from isit.imaging import PreprocessSpec
from isit.metadata import OOD_SCORE, BackboneInfo, ModelMetadata, UnknownSpec

CENTROIDS: dict[str, tuple[float, float, float]] = {
    "red_thing": (0.85, 0.12, 0.12),
    "blue_thing": (0.12, 0.15, 0.85),
    "green_thing": (0.15, 0.75, 0.2),
}
THRESHOLD = 0.3  # colour distance beyond which a photo is "unknown"
SHARPNESS = 8.0  # k above: how peaked the softmax is
COLOURS = {
    "red": (220, 30, 30),
    "blue": (30, 40, 215),
    "green": (40, 190, 50),
    "grey": (128, 128, 128),
}


def build_model(
    labels: tuple[str, ...] = tuple(CENTROIDS),
    *,
    name: str = "isit-test-colours",
    version: str = "test-1",
    size: int = 224,
) -> onnx.ModelProto:
    """The classifier as an in-memory ONNX model with full isit metadata."""
    spec = PreprocessSpec(size=size)
    centroids = np.asarray([CENTROIDS[label] for label in labels], dtype=np.float32)  # K x 3
    k = len(labels)
    init = [
        numpy_helper.from_array(np.asarray(spec.std, np.float32) / 255.0, "std01"),
        numpy_helper.from_array(np.asarray(spec.mean, np.float32) / 255.0, "mean01"),
        numpy_helper.from_array((2 * SHARPNESS * centroids.T).astype(np.float32), "weights"),
        numpy_helper.from_array(
            (-SHARPNESS * (centroids**2).sum(axis=1)).astype(np.float32), "bias"
        ),
        numpy_helper.from_array(centroids[None], "centroids"),  # 1 x K x 3
        numpy_helper.from_array(np.asarray([1], np.int64), "axis1"),
    ]
    nodes = [
        # Mean colour in normalised units, then back to 0..1 RGB.
        helper.make_node("ReduceMean", ["image"], ["mean_norm"], axes=[1, 2], keepdims=0),
        helper.make_node("Mul", ["mean_norm", "std01"], ["scaled"]),
        helper.make_node("Add", ["scaled", "mean01"], ["rgb"]),
        # Linear head + softmax.
        helper.make_node("MatMul", ["rgb", "weights"], ["logits_raw"]),
        helper.make_node("Add", ["logits_raw", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        # Distance to the nearest centroid.
        helper.make_node("Unsqueeze", ["rgb", "axis1"], ["rgb_1"]),
        helper.make_node("Sub", ["rgb_1", "centroids"], ["diff"]),
        helper.make_node("Mul", ["diff", "diff"], ["sq"]),
        helper.make_node("ReduceSum", ["sq", "axis2"], ["dist2"], keepdims=0),
        helper.make_node("ReduceMin", ["dist2"], ["min_dist2"], axes=[1], keepdims=0),
        helper.make_node("Sqrt", ["min_dist2"], [OOD_SCORE]),
    ]
    init.append(numpy_helper.from_array(np.asarray([2], np.int64), "axis2"))
    graph = helper.make_graph(
        nodes,
        "isit_test_colours",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", size, size, 3])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", k]),
            helper.make_tensor_value_info(OOD_SCORE, TensorProto.FLOAT, ["N"]),
        ],
        initializer=init,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="isit-tests"
    )
    model.ir_version = 8
    meta = ModelMetadata(
        kind="classifier",
        name=name,
        version=version,
        preprocess=spec,
        backbone=BackboneInfo(name="mean-colour", weights_sha256="0" * 64, feature_dim=3),
        labels=tuple(labels),
        unknown=UnknownSpec(threshold=THRESHOLD, method="centroid_distance"),
        metrics={"accuracy": 1.0, "macro_f1": 1.0, "test_images": 0, "note": "synthetic"},
    )
    helper.set_model_props(model, meta.to_props())
    onnx.checker.check_model(model)
    return model


def write_model(path: str | Path, **kwargs) -> Path:
    """Build the model and save it to ``path`` (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(build_model(**kwargs), str(path))
    return path


def classifier_from_backbone(
    backbone_path: str | Path,
    out_path: str | Path,
    labels: tuple[str, ...] = ("darth_vader", "elsa"),
    *,
    seed: int = 0,
) -> Path:
    """A timing stand-in for a trained model: a real backbone ONNX (kind ``backbone``) plus a
    random linear head (softmax; ``ood_score = 1 - max probability``). Same graph cost as a
    trained classifier on that backbone; its answers mean nothing."""
    model = onnx.load(str(backbone_path))
    props = {p.key: p.value for p in model.metadata_props}
    backbone_meta = ModelMetadata.from_props(props)
    dim = backbone_meta.backbone.feature_dim
    rng = np.random.default_rng(seed)
    graph = model.graph
    graph.initializer.extend(
        [
            numpy_helper.from_array(
                (rng.standard_normal((dim, len(labels))) * 0.05).astype(np.float32), "head_w"
            ),
            numpy_helper.from_array(np.zeros(len(labels), np.float32), "head_b"),
            numpy_helper.from_array(np.asarray(1.0, np.float32), "head_one"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("MatMul", ["features", "head_w"], ["head_mm"]),
            helper.make_node("Add", ["head_mm", "head_b"], ["head_logits"]),
            helper.make_node("Softmax", ["head_logits"], ["probabilities"], axis=-1),
            helper.make_node("ReduceMax", ["probabilities"], ["head_max"], axes=[1], keepdims=0),
            helper.make_node("Sub", ["head_one", "head_max"], [OOD_SCORE]),
        ]
    )
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(labels)]),
            helper.make_tensor_value_info(OOD_SCORE, TensorProto.FLOAT, ["N"]),
        ]
    )
    meta = ModelMetadata(
        kind="classifier",
        name=f"{backbone_meta.name}-random-head",
        version="bench-1",
        preprocess=backbone_meta.preprocess,
        backbone=backbone_meta.backbone,
        labels=labels,
        unknown=UnknownSpec(threshold=0.5, method="one_minus_max_prob"),
        metrics={},
    )
    del model.metadata_props[:]
    helper.set_model_props(model, meta.to_props())
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out_path))
    return out_path


def photo(
    colour: str | tuple[int, int, int] = "red",
    size: tuple[int, int] = (320, 240),
    fmt: str = "JPEG",
    *,
    noise: int = 12,
    seed: int = 0,
    **save_kwargs,
) -> bytes:
    """A noisy photo of one colour, encoded as ``fmt`` (noise keeps JPEGs a realistic size)."""
    rgb = COLOURS[colour] if isinstance(colour, str) else colour
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = np.empty((height, width, 3), dtype=np.int16)
    pixels[...] = rgb
    if noise:
        pixels += rng.integers(-noise, noise + 1, size=pixels.shape, dtype=np.int16)
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    if fmt == "JPEG":
        save_kwargs.setdefault("quality", 90)
    img.save(buffer, fmt, **save_kwargs)
    return buffer.getvalue()


if __name__ == "__main__":  # python tests/helpers/modelgen.py OUT.onnx
    import sys

    print(write_model(sys.argv[1] if len(sys.argv) > 1 else "model.onnx"))
