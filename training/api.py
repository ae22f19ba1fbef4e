"""The Python API of training, what the CLI calls: ``train``, ``evaluate``.

Imports are lazy so that ``import training.api`` costs nothing (no TensorFlow).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from training.settings import TrainConfig

if TYPE_CHECKING:
    from training.evaluation.folder import EvaluationResult
    from training.pipeline import TrainResult


def train(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: TrainConfig | None = None,
    *,
    quiet: bool = False,
    progress: bool | None = None,
    features_dir: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Check ``data_dir``, train, evaluate on held-out photos, export ``out_dir/model.onnx``
    with ``metrics.json`` and ``report.html`` (``features_dir``: reuse an `isit features`
    table of this folder instead of decoding the photos again).
    Raises :class:`isit.errors.IsitError` s."""
    from training.pipeline import train as run_training

    config = config or TrainConfig()
    return run_training(
        data_dir, out_dir, config, quiet=quiet, progress=progress, features_dir=features_dir
    )


def evaluate(
    model_path: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    progress: bool | None = None,
    **options: Any,
) -> EvaluationResult:
    """Metrics and report of ``model_path`` on the labelled folder ``data_dir``.

    ``progress``: a bar over the photos (None: only when stderr is a terminal)."""
    from training.evaluation.folder import evaluate as run_evaluation

    return run_evaluation(model_path, data_dir, out_dir, progress=progress, **options)
