"""What users and visitors read (issue 16): commands fail fast in CLI words, folders
without class folders are explained, the model's title travels to the page."""

from __future__ import annotations

import shutil

import pytest

from isit.errors import ModelError
from training.cli import main


def test_serve_stops_at_once_when_the_named_model_is_missing(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "nope.onnx"), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "No model file at" in err and "isit train" in err and "isit demo" in err
    assert "MODEL_PATH" not in err  # the command line speaks of arguments, not app settings


def test_a_folder_given_for_a_model_gets_did_you_mean(trained_model_path, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    shutil.copyfile(trained_model_path, folder / "model.onnx")
    photos = tmp_path / "photos"
    photos.mkdir()
    assert main(["predict", str(folder), str(photos)]) == 1
    assert f"did you mean {folder / 'model.onnx'}?" in capsys.readouterr().err
    # Swapped arguments: a photo folder first.
    assert main(["predict", str(photos), str(folder / "model.onnx")]) == 2
    assert "the model comes first" in capsys.readouterr().err


def test_a_broken_model_file_is_named_as_such(tmp_path):
    from isit.bundle import named_model_file

    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="is not a model isit can use"):
        named_model_file(broken)


def test_photos_outside_class_folders_are_explained(tmp_path, capsys):
    from training.data.sampledata import generate

    flat = tmp_path / "flat"
    shapes = generate(tmp_path / "shapes", per_class=3, seed=1, odd_names=False)
    flat.mkdir()
    for photo in sorted(shapes.rglob("*.*"))[:6]:
        shutil.copyfile(photo, flat / photo.name)
    assert main(["train", str(flat), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "sit directly in it, outside any class folder" in err
    assert f"{flat / 'cats'}/" in err
    assert "class folder(s)" not in err and "1 classes" not in err


def test_the_title_is_kept_in_the_model_and_described(colour_model_path):
    import onnx

    from isit.metadata import ModelMetadata

    props = {p.key: p.value for p in onnx.load(str(colour_model_path)).metadata_props}
    meta = ModelMetadata.from_props({**props, "isit.title": "Is it Mila?"})
    assert meta.title == "Is it Mila?"
    assert ModelMetadata.from_props(meta.to_props()).title == "Is it Mila?"
    with pytest.raises(ModelError):
        ModelMetadata.from_props({**props, "isit.title": "two\nlines"})


# ---------------------------------------------------------------- issue 24: say it once, plainly


def test_swapped_predict_arguments_are_named_not_invalid_protobuf(
    colour_model_path, tmp_path, capsys
):
    import modelgen

    photo = tmp_path / "my photo.jpg"
    photo.write_bytes(modelgen.photo("red", seed=1))
    assert main(["predict", str(photo), str(colour_model_path)]) == 2
    err = capsys.readouterr().err
    assert "InvalidProtobuf" not in err and "onnxruntime" not in err
    assert f"the model comes first: {colour_model_path} is the model" in err
    assert f"Run: isit predict {colour_model_path} '{photo}'" in err


def test_check_on_a_missing_folder_says_only_that(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nothere")]) == 1
    captured = capsys.readouterr()
    assert "readable images" not in captured.out + captured.err
    assert captured.err.strip() == (
        f"error: {tmp_path / 'nothere'} does not exist. Give the folder that holds one "
        "sub-folder of photos per class."
    )


def test_serve_without_a_model_says_so_once_in_plain_words(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "MODEL_PATH": str(tmp_path / "model" / "model.onnx"),
           "PYTHONPATH": str(root)}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "training", "serve", "--port", "0", "--quiet"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = server.stdout.readline()  # the URL: everything before it is on stderr
        assert first.startswith("isit dev host: http://")
    finally:
        server.kill()
        _, err = server.communicate(timeout=30)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("No model yet: nothing at ") and "isit demo" in lines[0]
    assert "app setting" not in err and "Deploy" not in err and "WARNING" not in err
