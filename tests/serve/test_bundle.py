"""The model bundle: one ONNX file in, checked predictions out, one session per process."""

from __future__ import annotations

import modelgen
import onnx
import pytest
from onnx import helper

from isit.bundle import UNKNOWN_LABEL, ModelBundle, load_bundle
from isit.errors import ModelError, NotAnImage
from isit.feature_extractor import FeatureExtractor


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return modelgen.write_model(tmp_path_factory.mktemp("bundle") / "model.onnx")


def test_predict_returns_sorted_scores_and_top_label(model_path):
    bundle = ModelBundle(model_path)
    prediction = bundle.predict(modelgen.photo("red", (640, 480)))
    assert prediction.label == "red_thing" and not prediction.unknown
    scores = [s.score for s in prediction.scores]
    assert scores == sorted(scores, reverse=True)
    assert {s.label for s in prediction.scores} == set(modelgen.CENTROIDS)
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert prediction.confidence == scores[0]


def test_unlike_anything_is_unknown_with_a_best_guess(model_path):
    prediction = ModelBundle(model_path).predict(modelgen.photo("grey"))
    assert prediction.unknown and prediction.label == UNKNOWN_LABEL
    assert prediction.best_guess in modelgen.CENTROIDS
    assert prediction.ood_score > modelgen.THRESHOLD
    assert prediction.to_dict()["label"] == "unknown"


def test_predict_many_matches_predict(model_path):
    bundle = ModelBundle(model_path)
    images = [modelgen.photo(c, seed=i) for i, c in enumerate(("red", "blue", "green", "grey"))]
    many = bundle.predict_many(images)
    assert [p.label for p in many] == [bundle.predict(d).label for d in images]
    assert bundle.predict_many([]) == []


def test_bad_image_raises_typed_error(model_path):
    with pytest.raises(NotAnImage):
        ModelBundle(model_path).predict(b"definitely not a photo")


def test_describe_has_no_paths(model_path):
    described = ModelBundle(model_path).describe()
    assert described["labels"] == list(modelgen.CENTROIDS)
    assert described["input_size"] == 224
    assert str(model_path.parent) not in repr(described)


def test_load_bundle_creates_one_session_per_path(model_path):
    assert load_bundle(model_path) is load_bundle(str(model_path))


def test_missing_and_garbage_files_are_refused(tmp_path):
    with pytest.raises(ModelError, match="No model file"):
        ModelBundle(tmp_path / "nope.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not onnx at all")
    with pytest.raises(ModelError, match="not a valid ONNX"):
        ModelBundle(garbage)


def rewrite(model_path, tmp_path, change) -> str:
    model = onnx.load(str(model_path))
    change(model)
    out = tmp_path / "changed.onnx"
    onnx.save_model(model, str(out))
    return str(out)


def set_prop(model: onnx.ModelProto, key: str, value: str) -> None:
    props = {p.key: p.value for p in model.metadata_props}
    props[key] = value
    del model.metadata_props[:]
    helper.set_model_props(model, props)


def test_label_count_must_match_the_graph(model_path, tmp_path):
    path = rewrite(model_path, tmp_path, lambda m: set_prop(m, "isit.labels", '["a", "b"]'))
    with pytest.raises(ModelError, match="3 class scores but its metadata names 2 labels"):
        ModelBundle(path)


def test_input_size_must_match_the_preprocessing(model_path, tmp_path):
    spec = '{"size": 160, "mean": [0, 0, 0], "std": [1, 1, 1]}'
    path = rewrite(model_path, tmp_path, lambda m: set_prop(m, "isit.preprocess", spec))
    with pytest.raises(ModelError, match="does not match its preprocessing"):
        ModelBundle(path)


def test_model_without_isit_metadata_is_refused(model_path, tmp_path):
    path = rewrite(model_path, tmp_path, lambda m: m.metadata_props.__delitem__(slice(None)))
    with pytest.raises(ModelError, match="no isit metadata"):
        ModelBundle(path)


def test_classifier_is_not_a_backbone(model_path):
    with pytest.raises(ModelError, match="not a backbone"):
        FeatureExtractor(model_path)
