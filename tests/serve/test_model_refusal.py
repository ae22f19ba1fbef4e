"""Issue 26, item 5: broken models are refused once, at load, with a reason; a model whose
answer is NaN or infinite is a typed error (500 ``model_failed``), never a label."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from unittest import mock

import modelgen
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from function_helpers import SETTINGS, call, reset_function_state
from onnx import helper, numpy_helper

from isit.bundle import load_bundle
from isit.errors import ModelError, ModelFailed
from isit.metadata import MAX_LABELS, PREFIX


def _props(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _save(model: onnx.ModelProto, path: Path, **changes: str) -> Path:
    """``model`` with some isit.* metadata values replaced, saved to ``path``."""
    props = {**_props(model), **{PREFIX + k: v for k, v in changes.items()}}
    del model.metadata_props[:]
    helper.set_model_props(model, props)
    onnx.save_model(model, str(path))
    return path


def _with_preprocess(tmp_path: Path, mean: list, std: list) -> Path:
    model = modelgen.build_model()
    spec = {**json.loads(_props(model)[PREFIX + "preprocess"]), "mean": mean, "std": std}
    return _save(model, tmp_path / "model.onnx", preprocess=json.dumps(spec))


@pytest.mark.parametrize(
    ("mean", "std"),
    [
        ([float("nan"), 116.0, 103.0], [58.0, 57.0, 57.0]),
        ([123.0, 116.0, 103.0], [58.0, float("inf"), 57.0]),
        ([123.0, float("-inf"), 103.0], [58.0, 57.0, 57.0]),
        ([123.0, 116.0, 103.0], [float("nan"), 57.0, 57.0]),
    ],
)
def test_nan_or_infinite_preprocessing_is_refused_at_load(tmp_path, mean, std) -> None:
    path = _with_preprocess(tmp_path, mean, std)
    with pytest.raises(ModelError, match="finite"):
        load_bundle(path)


def test_deeply_nested_metadata_is_refused_not_a_crash(tmp_path) -> None:
    deep = "[" * 100_000 + "]" * 100_000  # crashed json.loads (RecursionError) before
    path = _save(modelgen.build_model(), tmp_path / "model.onnx", metrics=deep)
    with pytest.raises(ModelError, match="nested more than"):
        load_bundle(path)


def test_a_million_labels_are_refused(tmp_path) -> None:
    labels = [f"c{i}" for i in range(1_000_000)]
    path = _save(modelgen.build_model(), tmp_path / "model.onnx", labels=json.dumps(labels))
    with pytest.raises(ModelError, match="at most 1,000,000 are allowed"):
        load_bundle(path)


def test_more_labels_than_the_bound_are_refused(tmp_path) -> None:
    labels = json.dumps([f"c{i}" for i in range(MAX_LABELS + 1)])
    path = _save(modelgen.build_model(), tmp_path / "model.onnx", labels=labels)
    with pytest.raises(ModelError, match=f"at most {MAX_LABELS} labels"):
        load_bundle(path)


def test_onnxruntimes_reason_is_in_the_log(tmp_path, caplog) -> None:
    model = modelgen.build_model()
    model.graph.node[0].op_type = "NoSuchOperator"
    path = tmp_path / "model.onnx"
    onnx.save_model(model, str(path))
    caplog.set_level(logging.ERROR, "isit.bundle")
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        load_bundle(path)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "NoSuchOperator" in logged  # onnxruntime's own words, for the operator


# ---------------------------------------------------------------- through the Function


@pytest.fixture
def function_with(monkeypatch):
    """Point the Function at a model file; its state is reset before and after."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)

    def use(path: Path) -> None:
        monkeypatch.setenv("MODEL_PATH", str(path))
        reset_function_state()

    yield use
    reset_function_state()


def test_a_broken_model_is_loaded_once_and_health_says_why(tmp_path, function_with) -> None:
    deep = "{" + '"a":{' * 5000 + "}" * 5001
    function_with(_save(modelgen.build_model(), tmp_path / "model.onnx", metrics=deep))
    with mock.patch.object(ort, "InferenceSession", wraps=ort.InferenceSession) as sessions:
        replies = [call(route, "GET") for route in ("health", "model", "health", "model")]
        replies.append(
            call("classify", body=modelgen.photo("red"), headers={"Content-Type": "image/jpeg"})
        )
    assert sessions.call_count == 1  # loaded once, refused once: not re-read per request
    health = replies[0]
    assert health.status == 503
    assert "nested more than" in health.json["reason"]
    assert all(r.status == 503 for r in replies)
    assert {r.json["error"]["code"] for r in replies[1:]} == {"model_unavailable"}


def _nan_model(path: Path, value: float) -> Path:
    model = modelgen.build_model()
    for i, init in enumerate(model.graph.initializer):
        if init.name == "bias":
            bias = np.full(numpy_helper.to_array(init).shape, value, np.float32)
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(bias, "bias"))
    onnx.save_model(model, str(path))
    return path


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_outputs_are_a_typed_error_not_a_label(tmp_path, value) -> None:
    bundle = load_bundle(_nan_model(tmp_path / "model.onnx", value))
    with pytest.raises(ModelFailed, match="not a number"):
        bundle.predict(modelgen.photo("red", seed=1))


def test_nan_outputs_are_answered_500_model_failed(tmp_path, function_with, caplog) -> None:
    function_with(_nan_model(tmp_path / "model.onnx", float("nan")))
    caplog.set_level(logging.ERROR, "isit.function")
    reply = call(
        "classify", body=modelgen.photo("red", seed=1), headers={"Content-Type": "image/jpeg"}
    )
    assert reply.status == 500
    assert reply.json["error"]["code"] == "model_failed"
    request_id = reply.headers["x-request-id"]
    assert any(request_id in r.getMessage() for r in caplog.records)
    assert call("health", "GET").status == 200  # the model loads; only its answers fail


def test_predict_json_never_writes_nan(tmp_path) -> None:
    model = _nan_model(tmp_path / "model.onnx", float("nan"))
    photo = tmp_path / "red.png"
    photo.write_bytes(modelgen.photo("red", fmt="PNG", seed=1))
    run = subprocess.run(
        [sys.executable, "-m", "training", "predict", str(model), str(photo), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    for line in run.stdout.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"invalid JSON {c}"))
    assert "NaN" not in run.stdout
    assert run.returncode == 1
    assert "not a number" in run.stderr
