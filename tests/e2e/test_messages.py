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
    assert main(["predict", str(photos), str(folder / "model.onnx")]) == 1
    assert "is a folder, not a model file" in capsys.readouterr().err


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
