"""Issue 14, findings 9 and 11: files we write (never overwrite, normal permissions, one
opset import per domain), labels that could escape a folder, and a broken model."""

from __future__ import annotations

import logging
import math
import os
import stat
from pathlib import Path

import modelgen
import onnx
import pytest
from onnx import TensorProto, helper

from isit.bundle import load_bundle
from isit.errors import ModelError
from isit.imaging import PreprocessSpec
from isit.metadata import BackboneInfo, ModelMetadata, UnknownSpec, label_problem
from training.model.graph import merge
from training.predict import copy_to

OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)]


def _meta(**changes) -> ModelMetadata:
    values = {
        "kind": "classifier",
        "name": "m",
        "version": "1",
        "preprocess": PreprocessSpec(size=32),
        "backbone": BackboneInfo("b", "0" * 64, 3),
        "labels": ("cats", "dogs"),
        "unknown": UnknownSpec(threshold=0.5),
        **changes,
    }
    return ModelMetadata(**values)


@pytest.mark.parametrize("label", ["..", ".", "a/b", "a\\b", "x\x85y", "tab\there", "\udce9"])
def test_labels_that_are_not_plain_folder_names_are_refused(label: str) -> None:
    assert label_problem(label)
    with pytest.raises(ModelError, match="invalid labels"):
        _meta(labels=("cats", label))


@pytest.mark.parametrize("threshold", [-math.inf, math.inf, math.nan])
def test_unknown_threshold_must_be_finite(threshold: float) -> None:
    with pytest.raises(ModelError, match="finite"):
        _meta(unknown=UnknownSpec(threshold=threshold))


def test_ordinary_labels_still_pass() -> None:
    assert _meta(labels=("darth vader", "Élsa", "...", "猫")).labels[1] == "Élsa"


def test_a_broken_model_is_not_reloaded_on_every_request(tmp_path: Path, caplog) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not an onnx file")
    caplog.set_level(logging.WARNING, "isit.bundle")
    for _ in range(3):
        with pytest.raises(ModelError):
            load_bundle(path)
    tries = [r for r in caplog.records if "could not be loaded" in r.getMessage()]
    assert len(tries) == 1  # the failure is remembered, not retried per request
    modelgen.write_model(path)  # the file changes: it is loaded at once
    assert load_bundle(path).labels


def _tiny(inputs, outputs, nodes) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=OPSETS)


def test_merged_model_imports_each_opset_domain_once() -> None:
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 4, 4, 3])
    features = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 3])
    backbone = _tiny(
        [image],
        [features],
        [helper.make_node("ReduceMean", ["image"], ["features"], axes=[1, 2], keepdims=0)],
    )
    head_in = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 3])
    probabilities = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])
    ood = helper.make_tensor_value_info("ood_score", TensorProto.FLOAT, ["N"])
    head = _tiny(
        [head_in],
        [probabilities, ood],
        [
            helper.make_node("Softmax", ["features"], ["probabilities"], axis=1),
            helper.make_node("ReduceMax", ["features"], ["ood_score"], axes=[1], keepdims=0),
        ],
    )
    merged = merge(backbone, head)
    domains = [o.domain for o in merged.opset_import]
    assert sorted(domains) == ["", "ai.onnx.ml"]
    onnx.checker.check_model(merged)


def test_onnx_is_written_with_ordinary_permissions(tmp_path: Path) -> None:
    from training.tf_convert import write_onnx_atomically

    model = onnx.load(str(modelgen.write_model(tmp_path / "source.onnx")))
    old = os.umask(0o022)
    try:
        target = write_onnx_atomically(model, tmp_path / "out" / "model.onnx")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]


# ---------------------------------------------------------------- predict --copy-to


def test_copy_to_never_overwrites_an_existing_predictions_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "predictions.csv").write_text("my own notes\n")
    path, handle = copy_to.open_predictions(out)
    with handle:
        handle.write("new\n")
    assert path.name == "predictions (1).csv"
    assert (out / "predictions.csv").read_text() == "my own notes\n"


def test_copies_get_new_names_and_keep_the_bytes(tmp_path: Path) -> None:
    source = tmp_path / "a.jpg"
    source.write_bytes(b"one")
    folder = copy_to.label_folder(tmp_path / "out", "cats")
    first = copy_to.copy_new(source, folder)
    source.write_bytes(b"two")
    second = copy_to.copy_new(source, folder)
    assert (first.name, second.name) == ("a.jpg", "a (1).jpg")
    assert (first.read_bytes(), second.read_bytes()) == (b"one", b"two")


def test_out_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    with pytest.raises(copy_to.CopyToError, match="inside the folder"):
        copy_to.check_out_dir(photos / "sorted", [photos])
    with pytest.raises(copy_to.CopyToError):
        copy_to.check_out_dir(photos, [photos])
    copy_to.check_out_dir(tmp_path / "sorted", [photos])  # beside it is fine


def test_a_label_cannot_lead_out_of_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(copy_to.CopyToError):
        copy_to.label_folder(out, "..")
    os.symlink(tmp_path, out / "cats")  # a label folder that is a link elsewhere
    with pytest.raises(copy_to.CopyToError, match="not a plain folder"):
        copy_to.label_folder(out, "cats")


def test_predict_cli_refuses_copy_to_inside_the_input(tmp_path: Path, capsys) -> None:
    from training.cli import main

    model = modelgen.write_model(tmp_path / "model.onnx")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "red.jpg").write_bytes(modelgen.photo("red", seed=1))
    assert main(["predict", str(model), str(photos), "--copy-to", str(photos / "out")]) == 2
    assert "inside the folder" in capsys.readouterr().err
    assert not (photos / "out").exists()
