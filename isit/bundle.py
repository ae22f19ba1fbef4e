"""The deployable model: one ONNX file (backbone + head + metadata) run by onnxruntime."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from isit.errors import ModelError, ModelFailed
from isit.explain import Heatmap, crop_box, normalised_grid
from isit.imaging import (
    DEFAULT_LIMITS,
    DecodeLimits,
    preprocess,
    preprocess_batch,
    preprocess_decoded,
)
from isit.metadata import (
    FEATURES,
    HEATMAP,
    INPUT_NAME,
    OOD_SCORE,
    PROBABILITIES,
    ModelMetadata,
)

UNKNOWN_LABEL = "unknown"
log = logging.getLogger("isit.bundle")


@dataclass(frozen=True)
class Score:
    label: str
    score: float


@dataclass(frozen=True)
class Prediction:
    """One image's answer. ``label`` is ``"unknown"`` when the model is not sure;
    ``best_guess`` is then the most likely class all the same."""

    label: str
    best_guess: str
    confidence: float
    unknown: bool
    ood_score: float
    scores: tuple[Score, ...]
    uncertain: bool = False  # answered, but the top two classes are close
    # For an "unknown" answer: how unlike the training photos, in words (:func:`how_unlike`).
    unlike: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "best_guess": self.best_guess,
            "confidence": round(self.confidence, 6),
            "unknown": self.unknown,
            "uncertain": self.uncertain,
            "unlike": self.unlike,
            "ood_score": round(self.ood_score, 6),
            "scores": [{"label": s.label, "score": round(s.score, 6)} for s in self.scores],
        }


# How far above the threshold an unknown score is, as a multiple of the threshold, and the
# word for it. Why words and no number: past the threshold the class probabilities mean
# nothing (a flat grey photo gets 99.99% for some class), and the score's scale is the
# backbone's, not a person's.
UNLIKE_WORDS: tuple[tuple[float, str], ...] = ((1.25, "a little"), (2.0, "quite"))
UNLIKE_MOST = "very"
UNLIKE_OTHER = "like other"  # the negatives class (other/, unknown/) won


def how_unlike(ood_score: float, threshold: float, negative: bool = False) -> str:
    """``"a little"``, ``"quite"`` or ``"very"`` (unlike the photos the model learnt from),
    or ``"like other"`` when the answer is the negatives class (``other/``)."""
    if negative and ood_score <= threshold:
        return UNLIKE_OTHER
    ratio = ood_score / threshold if threshold > 0 else float("inf")
    return next((word for limit, word in UNLIKE_WORDS if ratio < limit), UNLIKE_MOST)


def unlike_sentence(unlike: str | None, best_guess: str) -> str:
    """The not-sure answer in one plain line: no score, since it would mean nothing."""
    if unlike == UNLIKE_OTHER:
        return f"it looks like the photos in {best_guess}/, none of the classes"
    return f"{unlike or 'very'} unlike the photos it learnt from; only a guess: {best_guess}"


def is_uncertain(probabilities: np.ndarray, margin: float) -> np.ndarray:
    """``[N]`` bool: the top two of each row of ``[N, C]`` probabilities differ by less
    than ``margin`` (the one rule; training counts outcomes with it too)."""
    if margin <= 0 or probabilities.shape[-1] < 2 or not len(probabilities):
        return np.zeros(len(probabilities), dtype=bool)
    top_two = -np.sort(-np.asarray(probabilities, dtype=np.float64), axis=1)[:, :2]
    return (top_two[:, 0] - top_two[:, 1]) < margin


def is_unknown(
    probabilities: np.ndarray,
    ood_scores: np.ndarray,
    threshold: float | np.ndarray,
    negative_idx: Sequence[int] = (),
) -> np.ndarray:
    """``[N]`` bool: the answer is "unknown": the row's unknown score is above the
    threshold (one for all rows, or ``[N]``, one per row) or a negatives class
    (``negative_idx``) has the highest probability. The one rule: the model's answers
    and training's counts (test split, cross-validation folds, probes) all use it."""
    p = np.asarray(probabilities)
    # float64: the threshold is stored as a float64 number; the scores are float32.
    unknown = np.asarray(ood_scores, np.float64).reshape(-1) > np.asarray(threshold, np.float64)
    if len(negative_idx) and len(p):
        unknown |= np.isin(p.argmax(axis=1), list(negative_idx))
    return unknown


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """CPU session options; ``threads`` defaults to env ``ISIT_ORT_THREADS`` or ORT's choice."""
    options = ort.SessionOptions()
    threads = threads or int(os.environ.get("ISIT_ORT_THREADS", "0") or 0)
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def open_session(
    path: str | os.PathLike[str], threads: int | None = None
) -> tuple[ort.InferenceSession, ModelMetadata]:
    """An onnxruntime session and the file's checked isit metadata."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"No model file at {path}. Train one with `isit train DATA_DIR` (it prints where "
            "model.onnx went) and point MODEL_PATH or --model at it."
        )
    try:
        session = ort.InferenceSession(
            str(path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped exceptions
        # Its words (which node, which opset) are for the operator: the log keeps them.
        log.error("onnxruntime refused the model %s: %s", path, exc)
        raise ModelError(
            f"{path.name} is not a valid ONNX model ({type(exc).__name__}; the log has "
            "onnxruntime's reason)."
        ) from exc
    meta = ModelMetadata.from_props(dict(session.get_modelmeta().custom_metadata_map))
    _check_graph(session, meta)
    return session, meta


def _check_graph(session: ort.InferenceSession, meta: ModelMetadata) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    size = meta.preprocess.size
    if INPUT_NAME not in inputs:
        raise ModelError(f"The model has no input named {INPUT_NAME!r}.")
    shape = inputs[INPUT_NAME].shape
    if len(shape) != 4 or list(shape[1:]) != [size, size, 3]:
        raise ModelError(
            f"The model's input shape {shape} does not match its preprocessing ({size}x{size}x3)."
        )
    required = [FEATURES] if meta.kind == "backbone" else [PROBABILITIES, OOD_SCORE]
    missing = [name for name in required if name not in outputs]
    if missing:
        raise ModelError(f"The model lacks the outputs {missing}.")
    if meta.kind == "classifier":
        width = outputs[PROBABILITIES].shape[-1]
        if isinstance(width, int) and width != len(meta.labels):
            raise ModelError(
                f"The model outputs {width} class scores but its metadata names "
                f"{len(meta.labels)} labels."
            )
    else:
        width = outputs[FEATURES].shape[-1]
        if isinstance(width, int) and width != meta.backbone.feature_dim:
            raise ModelError(
                f"The backbone outputs {width} features but its metadata says "
                f"{meta.backbone.feature_dim}."
            )


class ModelBundle:
    """A loaded classifier. Create once per process (see :func:`load_bundle`)."""

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        self.path = Path(path)
        self.session, self.metadata = open_session(self.path, threads)
        if self.metadata.kind != "classifier":
            raise ModelError(
                f"{self.path.name} is a {self.metadata.kind}, not a classifier; train a "
                "classifier first."
            )
        assert self.metadata.unknown is not None  # checked by the metadata
        self.labels: tuple[str, ...] = self.metadata.labels
        self.threshold = float(self.metadata.unknown.threshold)
        self.negative_labels = frozenset(self.metadata.unknown.negative_labels)
        self.margin = float(self.metadata.unknown.uncertain_margin)

    @property
    def input_size(self) -> int:
        return self.metadata.preprocess.size

    @property
    def has_heatmap(self) -> bool:
        """Whether the model can show where it looked (its head is linear)."""
        return HEATMAP in {o.name for o in self.session.get_outputs()}

    def explain(
        self, data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS
    ) -> tuple[Prediction, Heatmap | None]:
        """Like :meth:`predict`, plus the answer's heatmap (None when the model has none)."""
        pixels, decoded = preprocess_decoded(data, self.metadata.preprocess, limits=limits)
        batch = pixels[None]
        if not self.has_heatmap:
            return self.predict_arrays(batch)[0], None
        probabilities, ood, maps = self.session.run(
            [PROBABILITIES, OOD_SCORE, HEATMAP], {INPUT_NAME: np.ascontiguousarray(batch)}
        )
        prediction = self.interpret(np.asarray(probabilities)[0], float(np.ravel(ood)[0]))
        shown = self.labels.index(prediction.best_guess)
        grid = normalised_grid(np.asarray(maps)[0, shown])
        return prediction, Heatmap(prediction.best_guess, grid, crop_box(decoded))

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised ``N x S x S x 3`` float32 batch to (probabilities, ood scores)."""
        probabilities, ood = self.session.run(
            [PROBABILITIES, OOD_SCORE], {INPUT_NAME: np.ascontiguousarray(batch, np.float32)}
        )
        return np.asarray(probabilities), np.asarray(ood).reshape(-1)

    @cached_property
    def negative_idx(self) -> tuple[int, ...]:
        """Indices of the negatives classes (``other``/``unknown``) in ``labels``."""
        return tuple(i for i, label in enumerate(self.labels) if label in self.negative_labels)

    def interpret(self, probabilities: np.ndarray, ood_score: float) -> Prediction:
        """One row of model outputs to a :class:`Prediction` (:func:`is_unknown`).

        Raises :class:`ModelFailed` when the outputs are not all finite numbers: a NaN
        sorts anywhere, so it would be answered as some label with a NaN confidence.
        """
        if not (np.all(np.isfinite(probabilities)) and np.isfinite(ood_score)):
            raise ModelFailed(
                "The model's answer was not a number (NaN or infinite scores), so no label "
                "can be given. Re-train or re-export the model."
            )
        order = np.argsort(-probabilities, kind="stable")
        scores = tuple(Score(self.labels[i], float(probabilities[i])) for i in order)
        best = scores[0]
        unknown = bool(
            is_unknown(probabilities[None], [ood_score], self.threshold, self.negative_idx)[0]
        )
        uncertain = not unknown and bool(is_uncertain(probabilities[None], self.margin)[0])
        negative = int(order[0]) in self.negative_idx
        return Prediction(
            unlike=how_unlike(ood_score, self.threshold, negative) if unknown else None,
            uncertain=uncertain,
            label=UNKNOWN_LABEL if unknown else best.label,
            best_guess=best.label,
            confidence=best.score,
            unknown=unknown,
            ood_score=float(ood_score),
            scores=scores,
        )

    def predict_arrays(self, batch: np.ndarray) -> list[Prediction]:
        probabilities, ood = self.run(batch)
        return [self.interpret(p, s) for p, s in zip(probabilities, ood, strict=True)]

    def predict(self, data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS) -> Prediction:
        """Image bytes to a prediction. Raises :class:`isit.errors.ImageError` on bad input."""
        batch = preprocess(data, self.metadata.preprocess, limits=limits)[None]
        return self.predict_arrays(batch)[0]

    def predict_many(
        self, images: Sequence[bytes], *, limits: DecodeLimits = DEFAULT_LIMITS
    ) -> list[Prediction]:
        if not images:
            return []
        batch = preprocess_batch(images, self.metadata.preprocess, limits=limits)
        return self.predict_arrays(batch)

    def describe(self) -> dict[str, Any]:
        """What a client may know about the model (no file paths)."""
        meta = self.metadata
        return {
            "name": meta.name,
            "title": meta.title,
            "version": meta.version,
            "created": meta.created,
            "labels": list(meta.labels),
            "input_size": meta.preprocess.size,
            "unknown_threshold": self.threshold,
            "uncertain_margin": self.margin,
            "backbone": meta.backbone.name,
            "metrics": meta.metrics,
        }


_bundles: dict[tuple[str, int | None], ModelBundle] = {}
# A model that failed to load is not tried again on every request (each try parses the
# whole file): the failure is kept until the file changes or FAILED_RETRY_S pass.
FAILED_RETRY_S = 30.0
_failures: dict[tuple[str, int | None], tuple[tuple[int, ...] | None, float, str]] = {}
_bundles_lock = threading.Lock()


def _file_signature(path: Path) -> tuple[int, ...] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino, info.st_dev)


def _open_bundle(path: Path, threads: int | None) -> ModelBundle:
    """A new bundle; any failure is a :class:`ModelError`, so it is remembered (not retried
    on every request) and answered 503 with its reason."""
    try:
        return ModelBundle(path, threads)
    except ModelError:
        raise
    except Exception as exc:  # a file that crashes a parser is broken all the same
        log.exception("Loading the model %s failed unexpectedly", path)
        raise ModelError(
            f"{path.name} could not be loaded ({type(exc).__name__}); the log says where."
        ) from exc


def load_bundle(path: str | os.PathLike[str], threads: int | None = None) -> ModelBundle:
    """The process-wide bundle for ``path``: the session is created once, then reused.

    A failure raises the same :class:`ModelError` again, without reloading, until the file
    changes (modification time, size or inode) or ``FAILED_RETRY_S`` seconds pass.
    """
    key = (str(Path(path).resolve()), threads)
    with _bundles_lock:
        bundle = _bundles.get(key)
        if bundle is not None:
            return bundle
        signature = _file_signature(Path(path))
        failed = _failures.get(key)
        if failed and failed[0] == signature and time.monotonic() - failed[1] < FAILED_RETRY_S:
            raise ModelError(failed[2])
        try:
            bundle = _open_bundle(Path(path), threads)
        except ModelError as exc:
            _failures[key] = (signature, time.monotonic(), exc.message)
            log.warning(
                "Model %s could not be loaded (tried again when the file changes or after "
                "%.0f s): %s",
                Path(path).name,
                FAILED_RETRY_S,
                exc.message,
            )
            raise
        _failures.pop(key, None)
        _bundles[key] = bundle
        log.info("Model %s %s loaded.", bundle.metadata.name, bundle.metadata.version)
        return bundle


def named_model_file(value: str | os.PathLike[str], what: str = "MODEL.onnx") -> Path:
    """The model file a command line names, checked before any work, with what to do
    when it is a folder, missing, or not an isit model (raises :class:`IsitError`). It is
    loaded once, into :func:`load_bundle`'s cache, where callers find it again."""
    path = Path(value)
    if path.is_dir():
        inside = path / "model.onnx"
        hint = f"did you mean {inside}?" if inside.is_file() else "give the model.onnx file"
        raise ModelError(f"{path} is a folder, not a model file: {hint} ({what} comes first).")
    if not path.is_file():
        raise ModelError(
            f"No model file at {path}. Train one with `isit train DATA_DIR` (it prints where "
            f"model.onnx went), or run `isit demo`; then give that file as {what}."
        )
    try:
        load_bundle(path)  # the process-wide session: its user gets this one, not another
    except ModelError as exc:
        raise ModelError(f"{path} is not a model isit can use: {exc.message}") from exc
    return path
