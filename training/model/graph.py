"""The deployable model: frozen backbone + head + softmax + unknown score in ONE ONNX file.

Why not convert the whole Keras graph on every train: the backbone is frozen and was
already exported once and checked against Keras when it was provisioned
(:mod:`training.backbones.provision`), and the features the head was trained on came from
that very file. The default linear head (a NumPy :class:`~training.model.head.LinearSolution`)
is written as a handful of ONNX nodes after the backbone's ``features`` with
``onnx.helper`` (:func:`join_linear_head`): ``image -> backbone -> features -> head ->
probabilities, ood_score``, no TensorFlow involved. A Keras head (``--hidden``) is still
converted with tf2onnx and joined with ``onnx.compose`` (:func:`convert_head`, :func:`merge`).

The unknown score is part of the graph (output ``ood_score``, :func:`add_unknown_score`),
so the Function, the CLI and training all get it from the same computation; the core
only compares it with the threshold in the metadata. After export, the file is loaded as
the Function loads it and run on real image bytes; its answers must match what the
evaluation reported (the head on the cached features), or the export is refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from isit.bundle import ModelBundle
from isit.errors import IsitError
from isit.imaging import preprocess_batch
from isit.metadata import (
    FEATURES,
    HEATMAP,
    INPUT_NAME,
    OOD_SCORE,
    PROBABILITIES,
    ModelMetadata,
)
from training import settings
from training.model.head import LinearSolution
from training.model.heatmap import add_heatmap
from training.model.temperature import EPSILON
from training.onnx_file import name_batch_dims, write_onnx_atomically

PARITY_TOLERANCE = 1e-4
FEATURE_MAP = "feature_map"  # the parity run's extra output (never in model.onnx)
# The head's internal names get this prefix so they cannot collide with the backbone's.
HEAD_PREFIX = "head/"


class ExportMismatch(IsitError):
    """The exported ONNX model does not compute what the trained Keras model computes."""

    code = "export_mismatch"


def head_function(head: Any, feature_dim: int, temperature: float = 1.0) -> Any:
    """A ``tf.function``: backbone ``features`` ``[N, D]`` -> ``probabilities``, the head's,
    temperature-scaled as :func:`training.model.temperature.apply_temperature` does
    (the unknown score is added afterwards as ONNX nodes, :func:`add_unknown_score`)."""
    import tensorflow as tf

    from training.model.temperature import EPSILON

    @tf.function(input_signature=[tf.TensorSpec([None, feature_dim], tf.float32, name=FEATURES)])
    def serve(features: Any) -> dict[str, Any]:
        probabilities = head(features, training=False)
        if temperature != 1.0:
            logits = tf.math.log(tf.maximum(probabilities, EPSILON)) / np.float32(temperature)
            probabilities = tf.nn.softmax(logits, axis=1)
        return {PROBABILITIES: tf.identity(probabilities, name=PROBABILITIES)}

    return serve


def linear_kernel(head: Any) -> np.ndarray | None:
    """``K`` ``[D, C]`` of a head whose logits are ``features @ K + b``; None otherwise
    (a hidden layer: no exact heatmap)."""
    if isinstance(head, LinearSolution):
        return np.asarray(head.kernel, dtype=np.float32)
    layers = getattr(head, "layers", None)
    if layers is None:
        return None
    dense = [layer for layer in layers if type(layer).__name__ == "Dense"]
    others = [
        layer for layer in layers if type(layer).__name__ not in ("Dense", "Softmax", "InputLayer")
    ]
    if len(dense) != 1 or others:
        return None
    return np.asarray(dense[0].get_weights()[0], dtype=np.float32)


def contrastive(kernel: np.ndarray) -> np.ndarray:
    """``K`` minus its mean over classes: the map then shows what favours a class over the
    others (softmax ignores what all classes share, and so should the heatmap)."""
    return kernel - kernel.mean(axis=1, keepdims=True)


def _default_opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def convert_head(
    head: Any, feature_dim: int, opset: int, temperature: float = 1.0
) -> onnx.ModelProto:
    """The head as an ONNX graph: input ``features``, output ``probabilities``."""
    import tf2onnx

    from training.tf_convert import quiet_tf2onnx

    serve = head_function(head, feature_dim, temperature)
    with quiet_tf2onnx():
        try:
            model, _ = tf2onnx.convert.from_function(
                serve, list(serve.input_signature), opset=opset
            )
        except Exception as exc:  # tf2onnx raises many types; say what failed
            raise ExportMismatch(f"The head could not be converted to ONNX: {exc}") from exc
    inputs = [i.name for i in model.graph.input]
    outputs = {o.name for o in model.graph.output}
    if inputs != [FEATURES] or outputs != {PROBABILITIES}:
        raise ExportMismatch(
            f"tf2onnx made a head with inputs {inputs} and outputs {sorted(outputs)}; "
            f"expected [{FEATURES!r}] and [{PROBABILITIES!r}]."
        )
    return model


def merge(backbone: onnx.ModelProto, head: onnx.ModelProto) -> onnx.ModelProto:
    """``image -> features`` then ``features -> probabilities``, as ONE graph (its outputs:
    ``probabilities`` and the backbone's ``features``, for :func:`add_unknown_score`).

    Both arguments are changed (metadata cleared, IR versions aligned); pass fresh loads.
    """
    if [i.name for i in backbone.graph.input] != [INPUT_NAME] or FEATURES not in {
        o.name for o in backbone.graph.output
    }:
        raise ExportMismatch(f"The backbone ONNX must map {INPUT_NAME!r} to {FEATURES!r}.")
    # Keep the head's outputs as named; prefix everything else, the input included.
    head = onnx.compose.add_prefix(head, HEAD_PREFIX, rename_outputs=False)
    head.ir_version = backbone.ir_version = max(head.ir_version, backbone.ir_version)
    # Metadata is set on the result; merge_models refuses differing values for one key.
    del backbone.metadata_props[:]
    del head.metadata_props[:]
    try:
        merged = onnx.compose.merge_models(
            backbone,
            head,
            io_map=[(FEATURES, HEAD_PREFIX + FEATURES)],
            inputs=[INPUT_NAME],
            outputs=[PROBABILITIES, FEATURES],
            producer_name="isit",
        )
    except (ValueError, onnx.checker.ValidationError) as exc:
        raise ExportMismatch(
            f"The backbone and head ONNX graphs could not be joined: {exc}"
        ) from exc
    unique_opset_imports(merged)
    return merged


def unique_opset_imports(model: onnx.ModelProto) -> None:
    """One opset import per domain, the highest version: merge_models lists both models'
    imports, and tools such as onnxruntime's quantizer refuse a domain imported twice."""
    versions: dict[str, int] = {}
    for opset in model.opset_import:
        versions[opset.domain] = max(versions.get(opset.domain, 0), opset.version)
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in versions.items())


# ------------------------------------------------------------------ the linear head in ONNX


def _constant(graph: onnx.GraphProto, name: str, value: Any) -> str:
    """A float32 initializer of ``graph``; returns its name."""
    array = np.ascontiguousarray(value, dtype=np.float32)
    graph.initializer.append(numpy_helper.from_array(array, name))
    return name


def _node(graph: onnx.GraphProto, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
    """Append ``op(inputs) -> output`` (the node named after its output); returns it."""
    graph.node.append(helper.make_node(op, inputs, [output], name=output, **attrs))
    return output


def _reduce(graph: onnx.GraphProto, op: str, x: str, output: str, opset: int, **attrs: Any) -> str:
    """``op`` over axis 1: ``axes`` is an input from opset 18 on, an attribute before."""
    if opset >= 18:
        axes = graph.initializer.add()
        axes.CopyFrom(numpy_helper.from_array(np.array([1], np.int64), output + "/axes"))
        return _node(graph, op, [x, axes.name], output, **attrs)
    return _node(graph, op, [x], output, axes=[1], **attrs)


def _add_probabilities(
    graph: onnx.GraphProto, kernel: np.ndarray, bias: np.ndarray, temperature: float
) -> None:
    """``probabilities`` = softmax(features @ K + b), then the temperature as
    :func:`training.model.temperature.apply_temperature` applies it (clipped log)."""
    p = HEAD_PREFIX
    logits = _node(graph, "MatMul", [FEATURES, _constant(graph, p + "kernel", kernel)], p + "z")
    logits = _node(graph, "Add", [logits, _constant(graph, p + "bias", bias)], p + "logits")
    if temperature == 1.0:
        _node(graph, "Softmax", [logits], PROBABILITIES, axis=1)
        return
    raw = _node(graph, "Softmax", [logits], p + "raw_probabilities", axis=1)
    clipped = _node(graph, "Max", [raw, _constant(graph, p + "epsilon", EPSILON)], p + "clipped")
    log = _node(graph, "Log", [clipped], p + "log_probabilities")
    scaled = _node(graph, "Div", [log, _constant(graph, p + "temperature", temperature)],
                   p + "tempered")  # fmt: skip
    _node(graph, "Softmax", [scaled], PROBABILITIES, axis=1)


def add_unknown_score(graph: onnx.GraphProto, reference: np.ndarray, opset: int) -> None:
    """``ood_score`` = 1 - the largest cosine of ``features`` to a ``reference`` row (unit
    length, stored as float16), op for op as :func:`training.model.unknown.ood_scores`."""
    p = HEAD_PREFIX + "unknown/"
    norm = _reduce(graph, "ReduceL2", FEATURES, p + "norm", opset, keepdims=1)
    norm = _node(graph, "Max", [norm, _constant(graph, p + "tiny", 1e-12)], p + "norm_safe")
    unit = _node(graph, "Div", [FEATURES, norm], p + "unit")
    rows = np.ascontiguousarray(np.asarray(reference, np.float16).T)  # [D, R]
    graph.initializer.append(numpy_helper.from_array(rows, p + "reference_t16"))
    towards = _node(graph, "Cast", [p + "reference_t16"], p + "reference_t", to=TensorProto.FLOAT)
    similarity = _node(graph, "MatMul", [unit, towards], p + "similarity")
    nearest = _reduce(graph, "ReduceMax", similarity, p + "nearest", opset, keepdims=0)
    distance = _node(graph, "Sub", [_constant(graph, p + "one", 1.0), nearest], p + "distance")
    _node(graph, "Relu", [distance], OOD_SCORE)  # float16 rows: a copy may come out at -1e-5


def _set_outputs(graph: onnx.GraphProto, classes: int) -> None:
    del graph.output[:]
    graph.output.extend([
        helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, ["N", classes]),
        helper.make_tensor_value_info(OOD_SCORE, TensorProto.FLOAT, ["N"]),
    ])  # fmt: skip


def join_linear_head(
    backbone: onnx.ModelProto, head: LinearSolution, reference: np.ndarray, temperature: float
) -> onnx.ModelProto:
    """The backbone graph (changed in place and returned) with the head's nodes after its
    ``features``; outputs ``probabilities`` ``[N, C]`` and ``ood_score`` ``[N]``."""
    graph, opset = backbone.graph, _default_opset(backbone)
    if [i.name for i in graph.input] != [INPUT_NAME] or FEATURES not in {
        o.name for o in graph.output
    }:
        raise ExportMismatch(f"The backbone ONNX must map {INPUT_NAME!r} to {FEATURES!r}.")
    kernel, bias = np.asarray(head.kernel), np.asarray(head.bias)
    _add_probabilities(graph, kernel, bias, temperature)
    add_unknown_score(graph, reference, opset)
    _set_outputs(graph, kernel.shape[1])
    del backbone.metadata_props[:]
    backbone.producer_name = "isit"
    return backbone


def _join_keras_head(
    backbone: onnx.ModelProto, head: Any, reference: np.ndarray, metadata: ModelMetadata,
    temperature: float,
) -> onnx.ModelProto:
    """A Keras head (``--hidden``) converted with tf2onnx, joined to the backbone, then the
    unknown score as ONNX nodes on the backbone's ``features``."""
    opset = _default_opset(backbone)
    converted = convert_head(head, metadata.backbone.feature_dim, opset, temperature)
    model = merge(backbone, converted)
    add_unknown_score(model.graph, reference, opset)
    _set_outputs(model.graph, len(metadata.labels))
    return model


def _check_backbone(backbone: onnx.ModelProto, metadata: ModelMetadata) -> None:
    """The backbone file must be the one the features (and so the head) came from."""
    found = ModelMetadata.from_props({p.key: p.value for p in backbone.metadata_props})
    if (
        found.kind != "backbone"
        or found.backbone.name != metadata.backbone.name
        or found.backbone.weights_sha256 != metadata.backbone.weights_sha256
        or found.backbone.feature_dim != metadata.backbone.feature_dim
        or found.preprocess != metadata.preprocess
    ):
        raise ExportMismatch(
            f"The backbone file ({found.kind} {found.backbone.name}) is not the backbone the "
            f"model was trained on ({metadata.backbone.name}); train again."
        )


def export(
    backbone_path: str | os.PathLike[str],
    head: Any,
    reference: np.ndarray,
    metadata: ModelMetadata,
    path: str | os.PathLike[str],
    temperature: float = 1.0,
) -> Path:
    """Join the provisioned backbone ONNX and the head (a :class:`LinearSolution`:
    written as ONNX nodes; a Keras model: converted with tf2onnx), attach the classifier
    metadata, check the model and write it atomically to ``path``."""
    backbone = onnx.load(str(backbone_path))
    _check_backbone(backbone, metadata)
    if isinstance(head, LinearSolution):
        model = join_linear_head(backbone, head, reference, temperature)
    else:
        model = _join_keras_head(backbone, head, reference, metadata, temperature)
    name_batch_dims(model)
    kernel = linear_kernel(head)
    if kernel is not None:  # an exact class activation map (see training.model.heatmap)
        add_heatmap(model, contrastive(kernel))
    onnx.helper.set_model_props(model, metadata.to_props())
    onnx.checker.check_model(model)
    return write_onnx_atomically(model, path)


def check_parity(
    path: str | os.PathLike[str],
    images: Sequence[bytes],
    probabilities: np.ndarray,
    ood_scores: np.ndarray,
    tolerance: float = PARITY_TOLERANCE,
    chunk: int = settings.BACKBONE_BATCH,
) -> dict[str, float]:
    """Load ``path`` as the Function would, run ``images`` (file bytes) through the core's
    preprocessing and compare with the expected ``probabilities`` and ``ood_scores``
    (the head and :func:`training.model.unknown.ood_scores` on the images' cached features).

    Raises :class:`ExportMismatch` when any value differs by more than ``tolerance``.
    """
    bundle = ModelBundle(path)
    spec = bundle.metadata.preprocess
    got_p, got_ood = [], []
    for start in range(0, len(images), chunk):
        batch = preprocess_batch(images[start : start + chunk], spec)
        p, s = bundle.run(batch)
        got_p.append(p)
        got_ood.append(s)
    if not images:
        return {"max_probability_diff": 0.0, "max_ood_diff": 0.0, "n": 0}
    return _compare(np.concatenate(got_p), np.concatenate(got_ood), probabilities, ood_scores,
                    tolerance)  # fmt: skip


def _compare(
    onnx_p: np.ndarray,
    onnx_ood: np.ndarray,
    probabilities: np.ndarray,
    ood_scores: np.ndarray,
    tolerance: float,
) -> dict[str, float]:
    """The largest differences, or :class:`ExportMismatch` beyond ``tolerance``."""
    n = len(onnx_p)
    prob_diff = float(np.abs(onnx_p - probabilities).max())
    ood_diff = float(np.abs(onnx_ood - ood_scores).max())
    if not prob_diff <= tolerance:
        raise ExportMismatch(
            f"The exported model's probabilities differ from the trained model's by "
            f"{prob_diff:.2e} (allowed {tolerance:.0e}) on {n} test images; the "
            "export is broken. Please report this with the backbone name."
        )
    if not ood_diff <= tolerance:
        raise ExportMismatch(
            f"The exported model's unknown scores differ from the trained model's by "
            f"{ood_diff:.2e} (allowed {tolerance:.0e}) on {n} test images; the export is "
            "broken. Please report this with the backbone name."
        )
    return {"max_probability_diff": prob_diff, "max_ood_diff": ood_diff, "n": n}


def run_with_feature_map(
    path: str | os.PathLike[str], images: Sequence[bytes], chunk: int = settings.BACKBONE_BATCH
) -> dict[str, np.ndarray] | None:
    """Every output of the model file at ``path`` (read back from disk) on ``images``,
    plus the backbone's pooled feature map (``FEATURE_MAP``, NCHW), in one pass: what the
    parity checks compare; None when the backbone's feature map is not found."""
    import onnxruntime as ort

    from training.model.heatmap import with_feature_map_output

    model = onnx.load(str(path))
    try:
        probe, layout = with_feature_map_output(model)
    except ValueError:
        return None
    spec = ModelMetadata.from_props({p.key: p.value for p in model.metadata_props}).preprocess
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for start in range(0, len(images), chunk):
        batch = preprocess_batch(images[start : start + chunk], spec)
        for part, value in zip(parts, session.run(names, {INPUT_NAME: batch}), strict=True):
            part.append(np.asarray(value))
    if not images:
        return None
    found = {name: np.concatenate(part) for name, part in zip(names, parts, strict=True)}
    fmap = found.pop(names[-1])
    found[FEATURE_MAP] = fmap if layout == "NCHW" else np.transpose(fmap, (0, 3, 1, 2))
    return found


def heatmaps_of(feature_maps: np.ndarray, head: Any) -> np.ndarray:
    """What the graph's ``heatmap`` output computes (:func:`add_heatmap`), in NumPy:
    ``[N, C, h, w]`` from the backbone's feature maps ``[N, D, h, w]`` (float64)."""
    kernel = linear_kernel(head)
    assert kernel is not None, "only a linear head has an exact heatmap"
    shown = contrastive(kernel).astype(np.float64)
    return np.einsum("ndhw,dc->nchw", np.asarray(feature_maps, np.float64), shown)


def _heatmap_parity(
    outputs: dict[str, np.ndarray], head: Any, features: np.ndarray, tolerance: float
) -> dict[str, float]:
    kernel = linear_kernel(head)
    assert kernel is not None
    heat = outputs[HEATMAP]
    expected = heatmaps_of(outputs[FEATURE_MAP], head)
    map_diff = float(np.abs(heat - expected).max())
    # The map's spatial mean is the head's logits on the cached features, up to what all
    # classes share (which softmax ignores): compare both centred per photo.
    logits = np.asarray(features, np.float64) @ kernel.astype(np.float64)
    from_map = heat.mean(axis=(2, 3))
    centred = (from_map - from_map.mean(axis=1, keepdims=True)) - (
        logits - logits.mean(axis=1, keepdims=True)
    )
    logit_diff = float(np.abs(centred).max())
    scale = max(1.0, float(np.abs(expected).max()))
    if not (map_diff <= tolerance * scale and logit_diff <= tolerance * scale):
        raise ExportMismatch(
            f"The exported heatmap differs from NumPy by {map_diff:.2e} (map) and "
            f"{logit_diff:.2e} (logits); the export is broken. Please report this."
        )
    return {"max_heatmap_diff": map_diff, "max_heatmap_logit_diff": logit_diff}


def check_export(
    path: str | os.PathLike[str],
    images: Sequence[bytes],
    head: Any,
    features: np.ndarray,
    expected: tuple[np.ndarray, np.ndarray],
    tolerance: float = PARITY_TOLERANCE,
) -> tuple[dict[str, float], dict[str, np.ndarray] | None]:
    """:func:`check_parity`, and the exported ``heatmap`` against NumPy (``M . K`` from
    the backbone's own feature map; its spatial mean against the head's logits on the
    cached features), from ONE run of the model file on ``images`` (the backbone is
    most of the cost); returns the parity figures and the photos' ``HEATMAP`` and
    ``FEATURE_MAP`` (NCHW). Without an exact heatmap (a hidden layer) only
    :func:`check_parity` runs (maps None)."""
    outputs = run_with_feature_map(path, images) if linear_kernel(head) is not None else None
    if outputs is None or HEATMAP not in outputs:
        return check_parity(path, images, *expected, tolerance), None
    probabilities, ood_scores = expected
    parity = _compare(outputs[PROBABILITIES], outputs[OOD_SCORE], probabilities, ood_scores,
                      tolerance)  # fmt: skip
    parity.update(_heatmap_parity(outputs, head, features, tolerance))
    return parity, {HEATMAP: outputs[HEATMAP], FEATURE_MAP: outputs[FEATURE_MAP]}
