"""Export a Keras model or TensorFlow function to an isit ONNX file (tf2onnx).

Shared by the backbone provisioning and the final model export, so every ONNX file isit
writes follows the same graph contract (see :mod:`isit.metadata`):

- one input ``image``: float32 ``[N, S, S, 3]``, NHWC, already normalised;
- outputs named exactly as asked, in that order (e.g. ``["features"]`` for a backbone,
  ``["probabilities", "ood_score"]`` for a classifier); the batch dimension is ``N``;
- ``metadata_props`` = :meth:`isit.metadata.ModelMetadata.to_props`;
- written atomically (temporary file in the same folder, then ``os.replace``), so a
  crash never leaves a half-written model where a reader would find it.

Usage::

    from training.tf_convert import export_function

    # a Keras model with one output
    export_function(backbone_model, "backbone.onnx", input_size=224,
                    output_names=["features"], metadata=meta)

    # any function of the image tensor returning a dict (or a tuple in output order)
    def classifier(image):
        features = backbone(image, training=False)
        return {"probabilities": head(features), "ood_score": ood(features)}

    export_function(classifier, "model.onnx", output_names=["probabilities", "ood_score"],
                    metadata=meta, verify_with=sample_batch)

Why ``tf2onnx.convert.from_function`` and not ``from_keras``: ``from_keras`` fails on
Sequential models and names outputs after Keras layers; a ``tf.function`` with an
``input_signature`` whose outputs are a dict gives us the names we choose.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from isit.errors import IsitError
from isit.metadata import FEATURES, INPUT_NAME, OOD_SCORE, PROBABILITIES, ModelMetadata
from training.onnx_file import BATCH_DIM, name_batch_dims, write_onnx_atomically
from training.tf_runtime import import_tensorflow

tf = import_tensorflow()  # quietly, before tf2onnx imports it
import tf2onnx  # noqa: E402

DEFAULT_OPSET = 17  # supported by tf2onnx 1.17 and every onnxruntime isit pins
# A keras.Model, or any callable of the image tensor (see export_function).
Exportable = Callable[[tf.Tensor], Any]

__all__ = [
    "BATCH_DIM",
    "DEFAULT_OPSET",
    "ExportError",
    "Exportable",
    "export_function",
    "name_batch_dims",
    "write_onnx_atomically",
]


# What to do when the converter fails: it is not the user's photos.
_REINSTALL = (
    "This is not a problem with your photos: reinstall the tested versions "
    "(pip install -r training/requirements.txt) and train again; if it persists, report it "
    "with this message."
)


class ExportError(IsitError):
    """The function could not be exported, or the ONNX file does not match the function."""

    code = "export_failed"


def _as_output_dict(result: Any, output_names: Sequence[str]) -> dict[str, tf.Tensor]:
    """A single tensor, a tuple/list in ``output_names`` order, or a dict -> a dict."""
    if isinstance(result, Mapping):
        missing = set(output_names) - set(result)
        extra = set(result) - set(output_names)
        if missing or extra:
            raise ExportError(
                f"The function returned outputs {sorted(result)}, expected {list(output_names)}."
            )
        return {name: result[name] for name in output_names}
    if isinstance(result, (tuple, list)):
        if len(result) != len(output_names):
            raise ExportError(
                f"The function returned {len(result)} outputs for names {list(output_names)}."
            )
        return dict(zip(output_names, result, strict=True))
    if len(output_names) != 1:
        raise ExportError(f"The function returned one tensor for names {list(output_names)}.")
    return {output_names[0]: result}


def _check_contract(output_names: Sequence[str], metadata: ModelMetadata | None) -> None:
    if len(set(output_names)) != len(output_names) or not output_names:
        raise ExportError(f"Output names must be unique and non-empty: {list(output_names)}.")
    if INPUT_NAME in output_names:
        raise ExportError(f"{INPUT_NAME!r} is the input's name; it cannot name an output.")
    if metadata is None:
        return
    required = {"backbone": {FEATURES}, "classifier": {PROBABILITIES, OOD_SCORE}}[metadata.kind]
    if not required <= set(output_names):
        raise ExportError(
            f"A {metadata.kind} ONNX must have outputs {sorted(required)}; "
            f"got {list(output_names)}."
        )


@contextlib.contextmanager
def quiet_tf2onnx() -> Iterator[None]:
    """tf2onnx logs every graph rewrite at INFO; keep the user's terminal readable."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def order_outputs(model: onnx.ModelProto, output_names: Sequence[str]) -> None:
    """Check the graph is ``image -> output_names`` and put the outputs in that order."""
    by_name = {o.name: o for o in model.graph.output}
    if set(by_name) != set(output_names) or [i.name for i in model.graph.input] != [INPUT_NAME]:
        raise ExportError(
            f"tf2onnx produced inputs {[i.name for i in model.graph.input]} and outputs "
            f"{sorted(by_name)}; expected [{INPUT_NAME!r}] and {list(output_names)}."
        )
    ordered = [onnx.ValueInfoProto() for _ in output_names]
    for target, name in zip(ordered, output_names, strict=True):
        target.CopyFrom(by_name[name])
    del model.graph.output[:]
    model.graph.output.extend(ordered)


def _verify(
    model: onnx.ModelProto,
    graph_fn: Any,
    batch: np.ndarray,
    output_names: Sequence[str],
    atol: float,
) -> None:
    import onnxruntime as ort  # only when verifying

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    got = session.run(list(output_names), {INPUT_NAME: batch})
    expected = graph_fn(tf.constant(batch))
    for name, onnx_value in zip(output_names, got, strict=True):
        tf_value = np.asarray(expected[name])
        if tf_value.shape != onnx_value.shape:
            raise ExportError(
                f"Output {name!r}: ONNX shape {onnx_value.shape} != TensorFlow {tf_value.shape}."
            )
        diff = float(np.max(np.abs(tf_value - onnx_value), initial=0.0))
        if not diff <= atol:
            raise ExportError(
                f"Output {name!r} differs between TensorFlow and ONNX by {diff:.2e} "
                f"(allowed {atol:.0e}), so the file was not written. " + _REINSTALL
            )


def export_function(
    fn_or_model: Exportable,
    path: str | os.PathLike[str],
    *,
    output_names: Sequence[str],
    metadata: ModelMetadata | None,
    input_size: int | None = None,
    opset: int = DEFAULT_OPSET,
    verify_with: np.ndarray | None = None,
    atol: float = 1e-4,
) -> Path:
    """Export ``fn_or_model`` to the ONNX file ``path`` and return ``path``.

    Args:
        fn_or_model: a Keras model (called with ``training=False``) or any callable taking
            the float32 image tensor ``[N, S, S, 3]``. It returns one tensor (one output
            name), a tuple/list in ``output_names`` order, or a dict keyed by them.
        path: where to write; parent folders are created; replaced atomically.
        output_names: names of the ONNX outputs, in order, e.g. ``["features"]`` or
            ``["probabilities", "ood_score"]`` (checked against ``metadata.kind``).
        metadata: written to ``metadata_props`` (``None`` writes none, e.g. for the
            ImageNet check model; isit's loaders refuse such a file).
        input_size: ``S``; defaults to ``metadata.preprocess.size`` (must agree with it).
        opset: ONNX opset.
        verify_with: optional ``[n, S, S, 3]`` batch; the exported graph is run in
            onnxruntime on it and compared with TensorFlow (max abs diff <= ``atol``)
            before the file is written, raising :class:`ExportError` if they differ.
    """
    output_names = list(output_names)
    _check_contract(output_names, metadata)
    if input_size is None:
        if metadata is None:
            raise ExportError("Give input_size or metadata (its preprocess.size).")
        input_size = metadata.preprocess.size
    elif metadata is not None and metadata.preprocess.size != input_size:
        raise ExportError(
            f"input_size {input_size} != metadata preprocess size {metadata.preprocess.size}."
        )

    call = _keras_call(fn_or_model)
    signature = [tf.TensorSpec([None, input_size, input_size, 3], tf.float32, name=INPUT_NAME)]

    @tf.function(input_signature=signature)
    def graph_fn(image: tf.Tensor) -> dict[str, tf.Tensor]:
        return _as_output_dict(call(image), output_names)

    with quiet_tf2onnx():
        try:
            model, _ = tf2onnx.convert.from_function(graph_fn, signature, opset=opset)
        except ExportError:
            raise
        except Exception as exc:  # tf2onnx raises many types; say what failed
            raise ExportError(
                f"tf2onnx could not convert the model to ONNX ({type(exc).__name__}: {exc}). "
                + _REINSTALL
            ) from exc
    order_outputs(model, output_names)
    name_batch_dims(model)
    model.producer_name = "isit"
    if metadata is not None:
        onnx.helper.set_model_props(model, metadata.to_props())
    onnx.checker.check_model(model)
    if verify_with is not None:
        _verify(model, graph_fn, verify_with, output_names, atol)
    return write_onnx_atomically(model, path)


def _keras_call(fn_or_model: Exportable) -> Callable[[tf.Tensor], Any]:
    """Keras models run in inference mode (BatchNorm statistics, no dropout)."""
    import keras

    if isinstance(fn_or_model, keras.Model):
        model = fn_or_model
        return lambda image: model(image, training=False)
    return fn_or_model
