"""Issue 12, end to end: which numbers a user is shown, and that they are honest.

Small folder: the headline is cross-validated, its interval is wide and holds the truth
(measured on many new photos the model never saw). Large folder: the exactly stratified
test split is used. Evaluate never counts photos the model learnt from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from isit.bundle import ModelBundle
from isit.imaging import read_image_bytes
from training.cli import main
from training.data.sampledata import generate
from training.evaluation.folder import evaluate
from training.pipeline import train
from training.settings import TrainConfig

pytestmark = pytest.mark.slow


def hard_shapes(out: Path, per_class: int, seed: int) -> Path:
    """Small grey circles vs squares on loud noise: learnable, but far from 100%."""
    rng = np.random.default_rng(seed)
    for label in ("circle", "square"):
        (out / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            side = int(rng.integers(80, 120))
            noise = rng.normal(128, 70, (side, side, 3))
            img = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))
            r = rng.uniform(0.04, 0.08) * side
            cx, cy = rng.uniform(r, side - r, 2)
            box = (cx - r, cy - r, cx + r, cy + r)
            draw = ImageDraw.Draw(img)
            shade = (int(rng.uniform(90, 170)),) * 3
            (draw.ellipse if label == "circle" else draw.rectangle)(box, fill=shade)
            img.save(out / label / f"{label}_{seed}_{i:03d}.png")
    return out


def test_a_small_folder_gets_a_cross_validated_headline_whose_interval_holds_the_truth(tmp_path):
    data = hard_shapes(tmp_path / "small", 12, seed=1)
    result = train(data, tmp_path / "out", TrainConfig(probes=False), quiet=True, progress=False)
    metrics = result.metrics
    assert "cross-validation" in metrics.evaluation and metrics.cross_validated
    assert "every photo is scored by models that never saw it" in metrics.run.evaluation_reason
    interval = metrics.best_guess.accuracy
    assert interval.n == 24
    assert interval.high - interval.low > 0.15  # 24 photos can't say much
    # The truth: the exported model on 300 new photos drawn the same way.
    new = hard_shapes(tmp_path / "new", 150, seed=99)
    bundle = ModelBundle(result.model_path)
    files = sorted(new.rglob("*.png"))
    predictions = bundle.predict_many([read_image_bytes(f) for f in files])
    right = [p.best_guess == f.parent.name for p, f in zip(predictions, files, strict=True)]
    truth = float(np.mean(right))
    assert 0.55 < truth < 1.0, truth  # the data is neither trivial nor hopeless
    assert interval.low <= truth <= interval.high, (truth, interval)
    # The exported model learnt from every photo; the report says why the numbers are CV.
    assert "Why: the test split would have only" in result.report_path.read_text("utf-8")


def test_a_large_folder_uses_its_exactly_stratified_test_split(tmp_path):
    data = generate(tmp_path / "big", per_class=400, min_side=48, max_side=64, seed=5)
    result = train(data, tmp_path / "out", TrainConfig(probes=False), quiet=True, progress=False)
    metrics = result.metrics
    assert metrics.evaluation == "test split" and not metrics.cross_validated
    assert metrics.split.test == 120 and metrics.best_guess.n == 120
    for scores in metrics.best_guess.per_class.values():
        assert scores.n == 40  # exactly 10% of 400 per class
    outcomes = metrics.outcomes
    assert outcomes.right + outcomes.wrong + outcomes.not_sure == 120
    calibration = metrics.run.calibration
    assert calibration.ece_after <= calibration.ece_before + 0.01


def test_evaluate_never_counts_photos_the_model_learnt_from(
    trained_model, sample_dataset_dir, tmp_path, capsys
):
    # The training folder itself: everything is set aside, and the command fails.
    out = tmp_path / "eval-train"
    argv = ["evaluate", str(trained_model.model_path), str(sample_dataset_dir), "--out", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "were used to train this model" in err and "never seen" in err
    # 10 training photos (one re-saved as PNG: same pixels, other bytes) + 20 new ones.
    mixed = tmp_path / "mixed"
    generate(mixed, per_class=7, min_side=64, max_side=160, seed=2027, odd_names=False)
    extra = sorted((mixed / "circles").iterdir())[:1]
    extra[0].unlink()  # 3 x 7 - 1 = 20 new photos
    trained = sorted(p for p in (sample_dataset_dir / "squares").iterdir())[:10]
    for i, path in enumerate(trained):
        target = mixed / "squares" / f"from_training_{i}{path.suffix}"
        if i == 0:
            Image.open(path).convert("RGB").save(target.with_suffix(".png"))
        else:
            shutil.copyfile(path, target)
    result = evaluate(trained_model.model_path, mixed, tmp_path / "eval-mixed", probes=False)
    assert result.metrics.folder.set_aside == 10
    assert result.metrics.best_guess.n == 20
    assert any("10 photos were set aside" in w for w in result.metrics.warnings)
    assert "set aside" in result.report_path.read_text("utf-8")
