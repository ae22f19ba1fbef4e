"""The metadata every isit ONNX file carries in its ``metadata_props``.

Keys (all values are strings; structured ones are JSON):
- ``isit.format_version``: ``"1"``.
- ``isit.kind``: ``"classifier"`` (backbone + head: the deployable model) or ``"backbone"``.
- ``isit.name``, ``isit.version``, ``isit.created`` (ISO 8601 UTC).
- ``isit.labels``: JSON list of class labels, in output order (classifier only).
- ``isit.preprocess``: JSON of :class:`isit.imaging.PreprocessSpec`.
- ``isit.backbone``: JSON ``{"name", "weights_sha256", "feature_dim"}``.
- ``isit.unknown``: JSON ``{"threshold", "method", "negative_labels", "uncertain_margin"}``
  (classifier only).
- ``isit.metrics``: JSON of headline held-out metrics (classifier only, may be ``{}``).
- ``isit.title``: what the page asks, e.g. "Is it Mila?" (optional; `isit train --title`).
- ``isit.training_photos``: fingerprint of the photos it learnt from (optional; written
  and read by ``training.model.learnt_from``, never served).

Graph contract: input ``image`` float32 ``[N, size, size, 3]``; a classifier outputs
``probabilities`` ``[N, C]`` and ``ood_score`` ``[N]`` (higher = less like the training
photos), and may output ``heatmap`` ``[N, C, h, w]`` (each class's evidence per region of
the model's input; row 0 at the top); a backbone outputs ``features`` ``[N, D]``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from isit.errors import ModelError
from isit.imaging import PreprocessSpec

FORMAT_VERSION = "1"
PREFIX = "isit."
INPUT_NAME = "image"
PROBABILITIES = "probabilities"
OOD_SCORE = "ood_score"
FEATURES = "features"
# How the ``ood_score`` output is computed (training.model.unknown implements it): the
# default of :class:`UnknownSpec` and what training writes.
UNKNOWN_METHOD = "nearest_training_photo_cosine_distance"
HEATMAP = "heatmap"  # optional classifier output [N, C, h, w]: class evidence per region
KINDS = ("classifier", "backbone")
# Bounds on what a model file may carry, checked before its metadata is parsed: a
# broken or hostile file is refused with a message, not a crash or a long parse.
MAX_METADATA_BYTES = 1_000_000  # all isit.* values together; real models use a few KB
MAX_JSON_DEPTH = 32  # nesting of any JSON value (metrics are the deepest: ~4)
MAX_LABELS = 1000  # classes of one model (ImageNet has 1000)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_KEYS = ("preprocess", "backbone", "labels", "unknown", "metrics")
# A label names a folder (training's classes, predict --copy-to's output folders): no path
# separators, no "." or "..", no control characters (C0, DEL, C1) and no lone surrogates
# (a folder name that was not UTF-8 cannot be stored), at most 100 characters.
_LABEL_RE = re.compile(r"^[^\x00-\x1f\x7f-\x9f/\\\ud800-\udfff]{1,100}$")


def label_problem(label: object) -> str | None:
    """Why ``label`` cannot be a class label (None when it can)."""
    if not isinstance(label, str) or not _LABEL_RE.match(label):
        return (
            "labels need 1 to 100 characters of valid text without '/', '\\' or control "
            "characters: rename the class folder"
        )
    if label in (".", ".."):
        return "a label cannot be '.' or '..'"
    return None


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    weights_sha256: str
    feature_dim: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weights_sha256": self.weights_sha256,
            "feature_dim": int(self.feature_dim),
        }


@dataclass(frozen=True)
class UnknownSpec:
    """When a prediction is "unknown": ``ood_score > threshold`` or a negatives class wins."""

    threshold: float
    method: str = UNKNOWN_METHOD
    negative_labels: tuple[str, ...] = ()
    # An answer whose top two probabilities differ by less than this is "uncertain"
    # (still answered, shown as hesitant); 0 = never (models made before it existed).
    uncertain_margin: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": float(self.threshold),
            "method": self.method,
            "negative_labels": list(self.negative_labels),
            "uncertain_margin": float(self.uncertain_margin),
        }


@dataclass(frozen=True)
class ModelMetadata:
    kind: str
    name: str
    version: str
    preprocess: PreprocessSpec
    backbone: BackboneInfo
    labels: tuple[str, ...] = ()
    unknown: UnknownSpec | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    # Fingerprint of the photos the model learnt from (training.model.learnt_from); opaque here.
    training_photos: str = ""
    title: str = ""  # what the page asks ("Is it Mila?"); empty: made from the labels
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    format_version: str = FORMAT_VERSION

    def __post_init__(self) -> None:
        problems = validate_fields(self)
        if problems:
            raise ModelError("Inconsistent model metadata: " + "; ".join(problems))

    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` dictionary to write into the ONNX file."""
        props = {
            "format_version": self.format_version,
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "preprocess": json.dumps(self.preprocess.to_dict()),
            "backbone": json.dumps(self.backbone.to_dict()),
        }
        if self.kind == "classifier":
            props["labels"] = json.dumps(list(self.labels), ensure_ascii=False)
            props["unknown"] = json.dumps(self.unknown.to_dict() if self.unknown else None)
            props["metrics"] = json.dumps(self.metrics, ensure_ascii=False)
            if self.training_photos:
                props["training_photos"] = self.training_photos
            if self.title:
                props["title"] = self.title
        return {PREFIX + key: value for key, value in props.items()}

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ModelMetadata:
        """Parse and check ``metadata_props``; a clear :class:`ModelError` if anything is off."""
        values = {k[len(PREFIX) :]: v for k, v in props.items() if k.startswith(PREFIX)}
        if not values:
            raise ModelError("This ONNX file has no isit metadata; export it with `isit train`.")
        version = values.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelError(
                f"Model format version {version!r} is not supported (this isit reads "
                f"{FORMAT_VERSION!r}). Re-export the model with this version of isit."
            )
        _check_bounds(values)
        try:
            kind = values["kind"]
            unknown_raw = json.loads(values.get("unknown", "null"))
            backbone_raw = json.loads(values["backbone"])
            return cls(
                kind=kind,
                name=values["name"],
                version=values["version"],
                created=values["created"],
                preprocess=PreprocessSpec.from_dict(json.loads(values["preprocess"])),
                backbone=BackboneInfo(
                    name=str(backbone_raw["name"]),
                    weights_sha256=str(backbone_raw["weights_sha256"]),
                    feature_dim=int(backbone_raw["feature_dim"]),
                ),
                labels=tuple(json.loads(values.get("labels", "[]"))),
                unknown=(
                    UnknownSpec(
                        threshold=float(unknown_raw["threshold"]),
                        method=str(unknown_raw.get("method", "")),
                        negative_labels=tuple(unknown_raw.get("negative_labels", [])),
                        uncertain_margin=float(unknown_raw.get("uncertain_margin", 0.0)),
                    )
                    if unknown_raw is not None
                    else None
                ),
                metrics=json.loads(values.get("metrics", "{}")),
                training_photos=values.get("training_photos", ""),
                title=values.get("title", ""),
            )
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise ModelError(
                f"The model's isit metadata is incomplete or malformed ({exc})."
            ) from exc


def json_depth(text: str) -> int:
    """How deeply the JSON ``text`` nests arrays and objects (brackets in strings ignored).

    Counted without parsing: Python's parser recurses once per level and a few thousand
    levels crash it (RecursionError) before any message could be given.
    """
    depth = deepest = 0
    for char in _JSON_STRING.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _check_bounds(values: dict[str, str]) -> None:
    """Refuse metadata too large or too deeply nested to parse safely."""
    size = sum(len(k) + len(v) for k, v in values.items())
    if size > MAX_METADATA_BYTES:
        raise ModelError(
            f"The model's isit metadata is {size:,} characters; at most "
            f"{MAX_METADATA_BYTES:,} are allowed. Re-export the model with `isit train`."
        )
    for key in _JSON_KEYS:
        if json_depth(values.get(key, "")) > MAX_JSON_DEPTH:
            raise ModelError(
                f"The model's isit.{key} metadata is nested more than {MAX_JSON_DEPTH} levels "
                "deep. Re-export the model with `isit train`."
            )


def validate_fields(meta: ModelMetadata) -> list[str]:
    """Problems with the metadata on its own (the graph is checked by the bundle)."""
    problems: list[str] = []
    if meta.kind not in KINDS:
        problems.append(f"kind {meta.kind!r} is not one of {KINDS}")
    if meta.backbone.feature_dim <= 0:
        problems.append("backbone feature_dim must be positive")
    if meta.kind == "classifier":
        labels = list(meta.labels)
        if len(labels) > MAX_LABELS:
            # Checked first: a million labels would also be a million label checks.
            return [f"a classifier may have at most {MAX_LABELS} labels, got {len(labels):,}"]
        if len(labels) < 2:
            problems.append(f"a classifier needs at least 2 labels, got {len(labels)}")
        if len(set(labels)) != len(labels):
            problems.append("labels are not unique")
        bad = [label for label in labels if label_problem(label)]
        if bad:
            problems.append(f"invalid labels {bad!r} ({label_problem(bad[0])})")
        if meta.unknown is None:
            problems.append("a classifier needs an unknown threshold")
        else:
            threshold = meta.unknown.threshold
            if not isinstance(threshold, int | float) or not math.isfinite(threshold):
                # -inf would call every photo unknown, +inf none, NaN is never compared.
                problems.append(
                    f"unknown threshold must be a finite number (not NaN or infinite), got "
                    f"{threshold!r}"
                )
            if not 0.0 <= meta.unknown.uncertain_margin < 1.0:
                problems.append("uncertain margin must be in [0, 1)")
            stray = set(meta.unknown.negative_labels) - set(labels)
            if stray:
                problems.append(f"negative labels {sorted(stray)} are not model labels")
        if not isinstance(meta.title, str) or len(meta.title) > 120 or any(
            ord(ch) < 32 for ch in meta.title
        ):
            problems.append("the title must be one line of at most 120 characters")
        if not isinstance(meta.metrics, dict):
            problems.append("metrics must be a JSON object")
    return problems
