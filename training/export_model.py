"""The deployable model: frozen backbone + head + softmax + unknown score in ONE ONNX file.

The unknown score is part of the graph (output ``ood_score``), so the Function, the CLI
and training all get it from the same computation; the core only compares it with the
threshold in the metadata. After export, the ONNX outputs on real images must match the
Keras/TensorFlow ones, or the export is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from isit.bundle import ModelBundle
from isit.errors import IsitError
from isit.metadata import INPUT_NAME, OOD_SCORE, PROBABILITIES, ModelMetadata

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PARITY_TOLERANCE = 1e-4


class ExportMismatch(IsitError):
    """The exported ONNX model does not compute what the trained Keras model computes."""

    code = "export_mismatch"


def serving_function(backbone: Any, head: Any, centroids: np.ndarray, size: int) -> Any:
    """A ``tf.function``: normalised images -> {probabilities, ood_score}.

    ``ood_score`` mirrors :func:`training.unknown.ood_scores` op for op (cosine distance
    to the nearest of the unit-length class ``centroids``); the constant is built inside
    the function so the converter folds it into the graph instead of adding an input.
    """
    import tensorflow as tf

    centroids = np.ascontiguousarray(centroids, dtype=np.float32)

    @tf.function(
        input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, name=INPUT_NAME)]
    )
    def serve(image: Any) -> dict[str, Any]:
        features = backbone(image, training=False)
        probabilities = head(features, training=False)
        norms = tf.maximum(tf.norm(features, axis=1, keepdims=True), 1e-12)
        similarity = tf.matmul(features / norms, tf.constant(centroids), transpose_b=True)
        score = 1.0 - tf.reduce_max(similarity, axis=1)
        return {
            PROBABILITIES: tf.identity(probabilities, name=PROBABILITIES),
            OOD_SCORE: tf.identity(score, name=OOD_SCORE),
        }

    return serve


def run_reference(serve: Any, batch: np.ndarray, chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The TensorFlow model's (probabilities, ood scores) for a normalised image batch."""
    probabilities, scores = [], []
    for start in range(0, len(batch), chunk):
        out = serve(batch[start : start + chunk])
        probabilities.append(out[PROBABILITIES].numpy())
        scores.append(out[OOD_SCORE].numpy())
    return np.concatenate(probabilities), np.concatenate(scores)


def export(serve: Any, metadata: ModelMetadata, path: str | os.PathLike[str]) -> Path:
    """Convert with tf2onnx, attach the isit metadata, write atomically."""
    from training.onnx_export import ExportError, export_function

    try:
        return export_function(
            serve, path, metadata=metadata, output_names=[PROBABILITIES, OOD_SCORE]
        )
    except ExportError as exc:
        raise ExportMismatch(f"The model could not be exported to ONNX: {exc}") from exc


def check_parity(
    path: str | os.PathLike[str],
    serve: Any,
    batch: np.ndarray,
    tolerance: float = PARITY_TOLERANCE,
) -> dict[str, float]:
    """Load the file as the Function would and compare with TensorFlow on ``batch``.

    Raises :class:`ExportMismatch` when a probability differs by more than ``tolerance``.
    """
    bundle = ModelBundle(path)
    onnx_p, onnx_ood = bundle.run(batch)
    keras_p, keras_ood = run_reference(serve, batch)
    prob_diff = float(np.abs(onnx_p - keras_p).max()) if len(batch) else 0.0
    ood_diff = float(np.abs(onnx_ood - keras_ood).max()) if len(batch) else 0.0
    if not prob_diff <= tolerance:
        raise ExportMismatch(
            f"The exported model's probabilities differ from the trained model's by "
            f"{prob_diff:.2e} (allowed {tolerance:.0e}) on {len(batch)} test images; the "
            "export is broken. Please report this with the backbone name."
        )
    if not ood_diff <= tolerance:
        raise ExportMismatch(
            f"The exported model's unknown scores differ from the trained model's by "
            f"{ood_diff:.2e} on {len(batch)} test images; the export is broken."
        )
    return {"max_probability_diff": prob_diff, "max_ood_diff": ood_diff, "n": len(batch)}
