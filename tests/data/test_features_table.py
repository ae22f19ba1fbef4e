"""The features table (local engine): one row per file, check and training read it back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from featuresgen import DIM, write_backbone, write_folder

from isit.feature_extractor import FeatureExtractor
from training.cli import main
from training.data.doctor import check_dataset
from training.data.doctor.layout import scan_layout
from training.data.feature_cache import Entry, FeatureCache
from training.data.features_table import (
    FeaturesMismatch,
    Manifest,
    feature_preset,
    read_rows,
    write_features,
)
from training.data.features_table.schema import FeaturesDirNotEmpty, FeaturesError
from training.data.features_table.spark import layout_from_paths

COMPARED = ("classes", "problems", "duplicate_groups", "duplicate_kinds", "conflicts", "split")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("features") / "data", per_class=12)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> Path:
    return write_backbone(tmp_path_factory.mktemp("backbone") / "tiny.onnx")


@pytest.fixture(scope="module")
def table(folder, backbone, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("table") / "features"
    write_features(folder, out, backbone=backbone, workers=1, progress=False)
    return out


def test_one_row_per_file_with_hashes_problems_and_features(folder, table) -> None:
    rows = {r["path"]: r for r in read_rows(table)}
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert set(rows) == files
    assert rows["cats/truncated.jpg"]["problem_kind"] == "not_an_image"
    assert rows["dogs/empty.jpg"]["problem_kind"] == "empty"
    assert rows["dogs/tiny.png"]["problem_kind"] == "too_small"
    assert rows[".DS_Store"]["problem_kind"] == "hidden"
    assert rows["labels.csv"]["label"] is None
    good = rows["cats/nested/deeper/café [1].jpg"]
    assert good["label"] == "cats" and good["problem_kind"] is None
    assert good["sha256"] == hashlib.sha256((folder / good["path"]).read_bytes()).hexdigest()
    assert len(good["features"]) == DIM and len(good["phashes"]) == 16
    assert all(r["features"] is None for r in rows.values() if r["problem_kind"])
    manifest = Manifest.read(table)
    assert manifest.engine == "local" and manifest.class_names == ["cats", "dogs"]
    assert manifest.rows == len(files)


def test_check_from_the_table_equals_check_from_the_folder(folder, table) -> None:
    direct = check_dataset(folder, workers=1, progress=False).to_json()
    from_table = check_dataset(None, features=table).to_json()
    for key in (*COMPARED, "images"):
        assert from_table[key] == direct[key], key
    assert from_table["duplicate_groups"], "the planted copies are found"


def test_preset_feeds_the_feature_cache_without_a_backbone_pass(table, backbone, tmp_path) -> None:
    extractor = FeatureExtractor(backbone)
    preset = feature_preset(table, extractor)
    rows = [r for r in read_rows(table) if r["features"] is not None]
    assert len(preset) == len({r["sha256"] for r in rows})
    cache = FeatureCache(extractor, tmp_path / "cache", progress=False, preset=preset)
    got = cache.get([Entry(r["sha256"], b"never decoded") for r in rows])
    assert cache.computed == 0
    np.testing.assert_array_equal(got, np.asarray([r["features"] for r in rows], np.float32))


def test_preset_refuses_features_of_another_backbone(table) -> None:
    with pytest.raises(FeaturesMismatch, match="isit features DATA --backbone mobilenet_v2"):
        feature_preset(table, "mobilenet_v2")


def test_never_writes_into_a_folder_that_holds_files(folder, backbone, tmp_path) -> None:
    (tmp_path / "mine.txt").write_text("user's file")
    with pytest.raises(FeaturesDirNotEmpty):
        write_features(folder, tmp_path, backbone=backbone, workers=1, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_check_refuses_other_min_side_and_incomplete_tables(table, tmp_path) -> None:
    with pytest.raises(ValueError, match="--min-side"):
        check_dataset(None, features=table, min_side=64)
    with pytest.raises(FeaturesError, match="not a complete features folder"):
        check_dataset(None, features=tmp_path)


def test_layout_from_a_listing_matches_the_folder_walk(folder) -> None:
    walked = scan_layout(folder)
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    listed = layout_from_paths(files)
    assert set(listed.candidates) == set(walked.candidates)
    assert listed.class_names == walked.class_names
    split = layout_from_paths(["train/a/1.jpg", "val/a/2.jpg", "train/b/3.jpg", "val/b/4.jpg"])
    assert split.user_splits == ["train", "val"] and not split.fatal
    assert layout_from_paths(["train/a/1.jpg", "b/2.jpg"]).fatal


def test_cli_features_then_check_from_them(folder, backbone, tmp_path, capsys) -> None:
    out = tmp_path / "f"
    argv = ["features", str(folder), "--out", str(out), "--backbone", str(backbone)]
    assert main([*argv, "--workers", "1"]) == 0
    assert "rows (local)" in capsys.readouterr().out
    assert main(["check", "--features", str(out), "--min-per-class", "3"]) == 0
    assert "cats" in capsys.readouterr().out
    assert main([*argv]) == 1  # the folder is not empty now
    assert "never overwrites" in capsys.readouterr().err


def test_the_local_engine_and_check_never_import_spark() -> None:
    import subprocess
    import sys

    code = (
        "import sys, training.data.features_table, training.cli.features, "
        "training.cli.check; assert 'pyspark' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_check_from_the_table_keeps_user_split_folders(backbone, tmp_path) -> None:
    from synthetic import write_photos

    data = tmp_path / "data"
    for n, split in enumerate(("train", "val", "test")):
        for m, label in enumerate(("a", "b")):
            write_photos(data / split / label, 6 if split == "train" else 3, seed=40 + 3 * n + m)
    (data / "val" / "a" / "leak.jpg").write_bytes(
        (data / "train" / "a" / "img_000.jpg").read_bytes()
    )
    write_features(data, tmp_path / "f", backbone=backbone, workers=1, progress=False)
    direct = check_dataset(data, workers=1, progress=False).to_json()
    from_table = check_dataset(data, features=tmp_path / "f").to_json()
    for key in (*COMPARED, "images", "leaks", "user_splits"):
        assert from_table[key] == direct[key], key
    assert direct["leaks"]


@pytest.mark.slow
def test_train_from_the_table_is_the_same_as_from_the_folder(tmp_path) -> None:
    """`isit train DATA --features DIR`: same groups, split and (within tolerance) model."""
    from isit.bundle import ModelBundle
    from isit.imaging import read_image_bytes
    from training.data.features_table import write_features
    from training.data.sampledata import generate
    from training.pipeline import train
    from training.settings import DEFAULT_BACKBONE, TrainConfig

    data = generate(tmp_path / "data", per_class=12, min_side=64, max_side=96, seed=4)
    table = tmp_path / "features"
    write_features(data, table, engine="local", backbone=DEFAULT_BACKBONE, progress=False)
    config = TrainConfig(probes=False)
    direct = train(data, tmp_path / "direct", config, quiet=True, progress=False)
    tabled = train(
        data, tmp_path / "tabled", config, quiet=True, progress=False, features_dir=table
    )
    assert tabled.metrics.split == direct.metrics.split
    assert tabled.metrics.run.cache_computed == 0  # every feature came from the table or cache
    accuracy = tabled.metrics.best_guess.accuracy.value
    assert accuracy == pytest.approx(direct.metrics.best_guess.accuracy.value)
    photos = [read_image_bytes(p) for p in sorted(data.rglob("*.*"))[:6]]
    a = ModelBundle(direct.model_path).predict_many(photos)
    b = ModelBundle(tabled.model_path).predict_many(photos)
    for x, y in zip(a, b, strict=True):
        assert x.label == y.label and abs(x.confidence - y.confidence) < 1e-4


@pytest.mark.parametrize("damage", ["truncated", "garbled", "no manifest", "manifest cut"])
def test_a_damaged_table_is_one_line_naming_the_file(
    folder, table, tmp_path, capsys, damage
) -> None:
    """Issue 26: `train --features DIR` (and `check`) on a damaged table: the file named,
    what to do, exit status 1, no traceback; nothing is written to --out."""
    import shutil

    copy = tmp_path / "features"
    shutil.copytree(table, copy)
    (part,) = (copy / "rows").glob("*.parquet")
    whole = part.read_bytes()
    named = part
    if damage == "truncated":
        part.write_bytes(whole[: len(whole) // 2])
    elif damage == "garbled":
        part.write_bytes(whole[:4] + bytes(len(whole) - 8) + whole[-4:])
    elif damage == "no manifest":
        (copy / "manifest.json").unlink()
        named = copy
    else:
        text = (copy / "manifest.json").read_text("utf-8")
        (copy / "manifest.json").write_text(text[: len(text) // 2] + "}", "utf-8")
        named = copy
    out = tmp_path / "run"
    for argv in (
        ["train", str(folder), "--features", str(copy), "--out", str(out), "--no-progress"],
        ["check", "--features", str(copy)],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and str(named) in err[0], err
        assert "isit features" in err[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["features"]
