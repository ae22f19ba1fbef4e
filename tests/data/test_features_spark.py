"""The Spark engine (local[2]) writes the same table as the local engine.

One Spark session for the module; a generated folder of ~130 small photos with planted
copies, broken files and junk. Needs Java 17+ and requirements-spark.txt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from featuresgen import write_backbone, write_folder

from training.data.doctor import check_dataset
from training.data.features_table import Manifest, read_rows, write_features

pytestmark = [pytest.mark.spark, pytest.mark.slow]

PER_CLASS = 60
COMPARED = ("classes", "problems", "duplicate_groups", "duplicate_kinds", "conflicts", "split")


@pytest.fixture(scope="module")
def spark():
    from training.data.features_table.spark import spark_session

    session, _ = spark_session("local[2]", app_name="isit-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("spark") / "data", per_class=PER_CLASS)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> Path:
    return write_backbone(tmp_path_factory.mktemp("backbone") / "tiny.onnx")


@pytest.fixture(scope="module")
def tables(spark, folder, backbone, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("tables")
    write_features(folder, out / "local", backbone=backbone, workers=2, progress=False)
    write_features(folder, out / "spark", engine="spark", backbone=backbone)
    return out / "local", out / "spark"


def _same_rows(a: list[dict], b: list[dict]) -> None:
    assert [r["path"] for r in a] == [r["path"] for r in b]
    for x, y in zip(a, b, strict=True):
        for key, value in x.items():
            if key != "features":
                assert y[key] == value, (x["path"], key)
            elif value is None:
                assert y[key] is None, x["path"]
            else:
                np.testing.assert_allclose(y[key], value, rtol=0, atol=1e-5, err_msg=x["path"])


def test_spark_and_local_tables_agree(tables) -> None:
    local, spark = (read_rows(t) for t in tables)
    assert len(local) > 2 * PER_CLASS
    _same_rows(local, spark)
    assert Manifest.read(tables[1]).engine == "spark"


def test_an_undecodable_file_is_a_row_not_a_failed_job(tables) -> None:
    rows = {r["path"]: r for r in read_rows(tables[1])}
    assert rows["cats/truncated.jpg"]["problem_kind"] == "not_an_image"
    assert rows["dogs/notes.jpg"]["problem_kind"] == "not_an_image"
    assert rows["dogs/empty.jpg"]["problem_kind"] == "empty"
    # Hadoop never lists names starting with '_': computed on the driver instead.
    assert rows["cats/_starts with underscore.jpg"]["features"] is not None


def test_check_from_the_spark_table_gives_the_same_groups_and_split(folder, tables) -> None:
    direct = check_dataset(folder, progress=False).to_json()
    from_spark = check_dataset(None, features=tables[1]).to_json()
    for key in (*COMPARED, "images"):
        assert from_spark[key] == direct[key], key
    assert len(from_spark["duplicate_groups"]) == 3


def test_a_uri_is_read_like_the_folder(spark, backbone, tmp_path) -> None:
    small = write_folder(tmp_path / "data", per_class=6)
    write_features(small, tmp_path / "local", backbone=backbone, workers=1, progress=False)
    write_features(small.as_uri(), tmp_path / "uri", engine="spark", backbone=backbone)
    by_uri = [r for r in read_rows(tmp_path / "uri") if r["label"] is not None]
    local = [r for r in read_rows(tmp_path / "local") if r["label"] is not None]
    # Spark does not list names starting with '_', nor empty files (documented); the rest agree.
    skipped = {"cats/_starts with underscore.jpg", "dogs/empty.jpg"}
    assert not skipped & {r["path"] for r in by_uri}
    _same_rows([r for r in local if r["path"] not in skipped], by_uri)


def test_the_cli_runs_the_spark_engine(spark, backbone, tmp_path, capsys) -> None:
    from training.cli import main

    small = write_folder(tmp_path / "data", per_class=5)
    out = tmp_path / "features"
    argv = ["features", str(small), "--engine", "spark", "--backbone", str(backbone)]
    assert main([*argv, "--out", str(out)]) == 0
    assert "rows (spark)" in capsys.readouterr().out
    assert main(["check", "--features", str(out), "--min-per-class", "3"]) == 0
