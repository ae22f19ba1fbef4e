"""Model metadata: what goes into metadata_props comes back out, and bad files are refused."""

from __future__ import annotations

import json

import pytest

from isit.errors import ModelError
from isit.imaging import PreprocessSpec
from isit.metadata import BackboneInfo, ModelMetadata, UnknownSpec


def classifier_metadata(**overrides) -> ModelMetadata:
    fields = {
        "kind": "classifier",
        "name": "vader-or-elsa",
        "version": "2026.11.23-1",
        "preprocess": PreprocessSpec(),
        "backbone": BackboneInfo("mobilenet_v2", "ab" * 32, 1280),
        "labels": ("darth_vader", "elsa"),
        "unknown": UnknownSpec(threshold=0.42, negative_labels=()),
        "metrics": {"test": {"n": 48, "accuracy": 0.958}},
    }
    fields.update(overrides)
    return ModelMetadata(**fields)


def test_round_trip_through_props():
    meta = classifier_metadata()
    props = meta.to_props()
    assert all(key.startswith("isit.") and isinstance(v, str) for key, v in props.items())
    assert json.loads(props["isit.labels"]) == ["darth_vader", "elsa"]
    assert ModelMetadata.from_props(props) == meta


def test_unicode_labels_round_trip():
    meta = classifier_metadata(labels=("chat noir", "hund ü"))
    assert ModelMetadata.from_props(meta.to_props()).labels == ("chat noir", "hund ü")


def test_backbone_metadata_has_no_labels():
    meta = ModelMetadata(
        kind="backbone",
        name="mobilenet_v2",
        version="1",
        preprocess=PreprocessSpec(),
        backbone=BackboneInfo("mobilenet_v2", "cd" * 32, 1280),
    )
    props = meta.to_props()
    assert "isit.labels" not in props
    assert ModelMetadata.from_props(props).kind == "backbone"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"labels": ("only_one",)}, "at least 2 labels"),
        ({"labels": ("a", "a")}, "not unique"),
        ({"labels": ("a", "b/c")}, "invalid labels"),
        ({"unknown": None}, "unknown threshold"),
        ({"unknown": UnknownSpec(threshold=float("nan"))}, "NaN"),
        ({"unknown": UnknownSpec(threshold=0.1, negative_labels=("other",))}, "negative labels"),
        ({"kind": "regressor"}, "kind"),
    ],
)
def test_inconsistent_metadata_is_refused(overrides, message):
    with pytest.raises(ModelError, match=message):
        classifier_metadata(**overrides)


def test_props_without_isit_keys_are_refused():
    with pytest.raises(ModelError, match="no isit metadata"):
        ModelMetadata.from_props({"producer": "someone else"})


def test_future_format_version_is_refused():
    props = classifier_metadata().to_props()
    props["isit.format_version"] = "99"
    with pytest.raises(ModelError, match="not supported"):
        ModelMetadata.from_props(props)


@pytest.mark.parametrize("key", ["isit.preprocess", "isit.backbone", "isit.name"])
def test_missing_or_broken_fields_are_refused(key):
    props = classifier_metadata().to_props()
    del props[key]
    with pytest.raises(ModelError, match="incomplete or malformed"):
        ModelMetadata.from_props(props)


@pytest.mark.parametrize("key", ["isit.preprocess", "isit.backbone", "isit.labels", "isit.unknown"])
def test_malformed_json_fields_are_refused(key):
    props = classifier_metadata().to_props()
    props[key] = "{not json"
    with pytest.raises(ModelError, match="incomplete or malformed"):
        ModelMetadata.from_props(props)
