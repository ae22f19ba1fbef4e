"""Issues 24 and 26 through a real `train`: photos changed during the run, an earlier run in
--out, Ctrl+C after the model was written. Small generated folders (8 photos per class)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import training.pipeline as pipeline
from isit.feature_extractor import FeatureExtractor
from training.cli import main
from training.data.feature_cache import Entry, FeatureCache, PhotosChanged, sha256_bytes
from training.data.sampledata import generate
from training.settings import DEFAULT_BACKBONE, TrainConfig

pytestmark = pytest.mark.slow


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_photos_replaced_after_the_check_never_poison_the_cache(tmp_path, monkeypatch):
    """Overwrite 5 circles with squares just after the check, restore them after the run:
    the run stops with "changed", and the cache never holds squares under the circles'
    hashes, so the next run learns the real photos."""
    data = generate(tmp_path / "data", per_class=8, seed=26)
    circles = sorted((data / "circles").iterdir())[:5]
    squares = sorted((data / "squares").iterdir())[:5]
    originals = {p: p.read_bytes() for p in circles}
    real_check = pipeline.load_training_data

    def check_then_overwrite(*args, **kwargs):
        checked = real_check(*args, **kwargs)
        for circle, square in zip(circles, squares, strict=True):
            shutil.copyfile(square, circle)
        return checked

    monkeypatch.setattr(pipeline, "load_training_data", check_then_overwrite)
    with pytest.raises(PhotosChanged, match="5 photo\\(s\\) changed while training"):
        pipeline.train(data, tmp_path / "run", TrainConfig(), quiet=True, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no run, no leftovers
    monkeypatch.undo()
    for path, original in originals.items():
        path.write_bytes(original)

    result = pipeline.train(data, tmp_path / "run", TrainConfig(), quiet=True, progress=False)
    assert result.model_path.is_file()
    from training.backbones.provision import provision

    extractor = FeatureExtractor(provision(DEFAULT_BACKBONE))
    cache = FeatureCache(extractor, progress=False)
    for path, original in originals.items():  # what the next run learnt from
        cached = cache._load(Entry(sha256_bytes(original), path))
        assert cached is not None
        assert np.allclose(cached, extractor.from_bytes([original])[0], atol=1e-4)


def test_out_onto_an_earlier_run_and_ctrl_c_leave_it_byte_identical(tmp_path, monkeypatch, capsys):
    data = generate(tmp_path / "data", per_class=8, seed=24)
    out = tmp_path / "model"
    argv = ["train", str(data), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    before = snapshot(out)
    assert set(before) == {"model.onnx", "metrics.json", "report.html", "held_out.csv"}
    capsys.readouterr()
    # Onto the earlier run: refused, nothing changes.
    assert main([*argv, "--seed", "1"]) == 2
    assert "--force" in capsys.readouterr().err
    assert snapshot(out) == before

    # Ctrl+C after the new model.onnx was written: the earlier run is still whole.
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "where_it_looked", interrupted)
    assert main([*argv, "--seed", "1", "--force"]) == 130
    assert snapshot(out) == before
    monkeypatch.undo()
    # --force replaces it, whole.
    assert main([*argv, "--seed", "1", "--force"]) == 0
    after = snapshot(out)
    assert set(after) == set(before) and after["model.onnx"] != before["model.onnx"]
    assert sorted(os.listdir(tmp_path)) == ["data", "model"]
