"""End to end: `train` on generated photos -> model.onnx, metrics.json, report.html."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import onnx
import pytest

from isit.bundle import ModelBundle
from isit.imaging import read_image_bytes
from training.cli import main
from training.data.doctor import check_dataset
from training.data.sampledata import CLASSES
from training.pipeline.held_out import TEST_SPLIT
from training.pipeline.package import PARITY_PHOTOS
from training.settings import DEFAULT_BACKBONE

pytestmark = pytest.mark.slow


def test_train_learns_the_sample_photos(trained_model):
    metrics = trained_model.metrics
    guess = metrics.best_guess
    assert guess.n >= 10
    assert guess.accuracy.value >= 0.9
    assert set(guess.per_class) == set(CLASSES)
    for scores in guess.per_class.values():
        # Issue 12: every proportion also has its n and 95% interval.
        assert scores.recall.n == scores.n
        assert scores.recall.low <= scores.recall.value <= scores.recall.high
    assert guess.labels == CLASSES
    matrix = np.array(guess.confusion)
    assert matrix.shape == (3, 3) and matrix.sum() == guess.n
    assert np.trace(matrix) / matrix.sum() == pytest.approx(guess.accuracy.value)
    assert 0.0 <= guess.ece <= 1.0
    assert metrics.backbone == DEFAULT_BACKBONE == "efficientnet_lite0"
    assert metrics.run is not None and metrics.run.train_seconds > 0
    # metrics.json on disk is the object the API returned, written once with every
    # stage's time (the report's too).
    on_disk = json.loads(trained_model.metrics_path.read_text("utf-8"))
    assert on_disk == json.loads(json.dumps(metrics.to_dict()))
    assert "test" not in on_disk  # the best guess's block says what it is
    for values in on_disk["best_guess"]["per_class"].values():
        assert set(values) == {
            "precision",
            "precision_interval",
            "recall",
            "recall_interval",
            "f1",
            "n",
        }
    assert "report" in on_disk["timings"]
    assert set(on_disk["unknown"]) >= {"threshold", "in_distribution_accepted", "probe_rejected"}


def test_split_comes_from_the_dataset_check(trained_model, sample_dataset_dir):
    report = check_dataset(sample_dataset_dir, progress=False)
    split = trained_model.metrics.split
    assert split.to_dict() == report.split_counts()
    # Every photo is used, odd names (spaces, unicode, brackets) included.
    assert split.train + split.val + split.test == len(report.usable_images())
    names = {r.path.split("/")[-1] for r in report.usable_images()}
    assert {"my photo 0", "café ünïcode 1", "[draft] shape (#2)", "写真 3"} <= {
        n.rsplit(".", 1)[0] for n in names
    }


def test_onnx_file_is_the_whole_model_and_matches_keras(trained_model, sample_dataset_dir):
    parity = trained_model.metrics.run.parity
    # The export is checked on real photos: the galleries (a first run), at least PARITY_PHOTOS.
    assert parity["n"] >= min(PARITY_PHOTOS, trained_model.metrics.outcomes.n)
    assert parity["max_probability_diff"] <= 1e-4
    assert parity["max_ood_diff"] <= 1e-4

    # One graph: the backbone joined to the head, image in, the two contract outputs out.
    graph = onnx.load(str(trained_model.model_path)).graph
    assert [i.name for i in graph.input] == ["image"]
    assert [o.name for o in graph.output] == ["probabilities", "ood_score", "heatmap"]  # issue 15

    bundle = ModelBundle(trained_model.model_path)
    meta = bundle.metadata
    assert meta.kind == "classifier"
    assert meta.labels == CLASSES
    assert meta.backbone.name == DEFAULT_BACKBONE and meta.backbone.feature_dim == 1280
    metrics = trained_model.metrics
    assert meta.unknown.threshold == pytest.approx(metrics.unknown.threshold)
    assert meta.metrics["accuracy"] == pytest.approx(metrics.best_guess.accuracy.value)
    assert meta.metrics["outcomes"] == json.loads(json.dumps(metrics.outcomes.to_dict()))

    # The served model (through the core, as the Function runs it) scores the test split
    # exactly as training reported.
    report = check_dataset(sample_dataset_dir, progress=False)
    test = report.split_images("test")
    predictions = bundle.predict_many([read_image_bytes(sample_dataset_dir / r.path) for r in test])
    accuracy = np.mean([p.best_guess == r.label for p, r in zip(predictions, test, strict=True)])
    if metrics.evaluation == TEST_SPLIT:
        assert accuracy == pytest.approx(metrics.best_guess.accuracy.value)
    else:  # the headline is cross-validated; the final model learnt the test photos too
        assert accuracy >= metrics.best_guess.accuracy.value - 0.02


def test_unknown_threshold_accepts_held_out_and_rejects_unrelated(trained_model):
    unknown = trained_model.metrics.unknown
    assert unknown.threshold > 0
    assert unknown.accepted.value >= 0.8  # >= 95% on val by construction
    assert unknown.probes_rejected.n >= 20
    assert unknown.probes_rejected.value >= 0.8


def test_report_is_self_contained_and_has_the_sections(trained_model):
    html = trained_model.report_path.read_text("utf-8")
    for heading in (
        "held-out",
        "Per class",
        "Most confidently wrong",
        "Least confident right",
        "Score for “circles”: top 10",
        "Score for “squares”: bottom 10",
        "Unknown photos",
    ):
        assert heading in html
    # The default head is solved exactly (no epochs): no training curves to draw.
    assert ("Training curves" in html) == bool(trained_model.metrics.run.epochs_run)
    assert f"<b>{trained_model.metrics.best_guess.n}</b>" in html
    # The regularisation plot marks the C the facts table names: the model's.
    chosen = re.search(r"linear, regularisation C = ([^ ]+) \(the one that did best", html)
    assert chosen and f"is the one the model uses (C = {chosen[1]};" in html
    assert "The error rate (each class counting equally)" in html
    # Plain words (issue 24): no unexplained jargon, probes named by what they show.
    text = re.sub(r"<[^>]+>", " ", re.sub(r"src='data:[^']*'", "", html))
    for jargon in ("inner CV", "expected calibration error", "skimage:", "sklearn:",
                   "log loss", " 1 answers", "0 answers were"):  # fmt: skip
        assert jargon not in text, jargon
    assert "a cat" in text and "Cross-validation: the photos are dealt into parts" in text
    assert html.count("data:image/png;base64,") >= 2  # confusion, unknown histogram
    assert html.count("data:image/jpeg;base64,") >= 10  # thumbnails
    # Nothing loaded from elsewhere.
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)


def test_retrain_reuses_cached_features_and_learns_a_negatives_class(
    trained_model, sample_dataset_dir, tmp_path, capsys, monkeypatch
):
    """A second train, from the command line (other settings, an `other/` folder, one
    augmented view per training photo), computes only the new photos and views; every
    feature seen before is reused, and the Keras backbone is never built (the export
    reuses the provisioned backbone ONNX)."""
    from training.backbones.registry import BackboneDef

    def no_keras_backbone(self):
        raise AssertionError(f"the Keras {self.name} backbone was built")

    monkeypatch.setattr(BackboneDef, "build_keras", no_keras_backbone)
    data = tmp_path / "data"
    shutil.copytree(sample_dataset_dir, data)
    rng = np.random.default_rng(3)
    other = data / "other"
    other.mkdir()
    from PIL import Image

    for i in range(12):  # plain noisy gradients, no shapes: "none of the above"
        pixels = rng.uniform(0, 255, 3) + rng.normal(0, 25, (96, 96, 3))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(other / f"o{i}.png")
    out = tmp_path / "out"
    argv = ["train", str(data), "--out", str(out), "--seed", "1", "--epochs", "40"]
    assert main([*argv, "--augment", "1", "--name", "with negatives"]) == 0
    printed = capsys.readouterr().out
    assert f"model:   {out / 'model.onnx'}" in printed
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    first = trained_model.metrics.run
    assert metrics["augment"] == 1
    assert metrics["cache"]["computed"] == 12 + metrics["split"]["train"]
    assert metrics["cache"]["hits"] == first.cache_hits + first.cache_computed
    meta = ModelBundle(out / "model.onnx").metadata
    assert meta.name == "with negatives"
    assert meta.labels == tuple(sorted((*CLASSES, "other")))
    assert meta.unknown.negative_labels == ("other",)
    # 12 photos of `other` are too few for a held-out test: numbers come from k-fold.
    assert "cross-validation" in metrics["evaluation"]
    assert metrics["best_guess"]["n"] == sum(metrics["split"].values())
    assert metrics["best_guess"]["accuracy"] >= 0.9
    assert "cross-validation" in (out / "report.html").read_text("utf-8")


def test_train_stops_on_the_dataset_checks_fatal_errors(tmp_path, capsys):
    from training.data.sampledata import generate

    data = generate(tmp_path / "one-class", per_class=6, classes=("circles",), seed=1)
    fatal = check_dataset(data, progress=False).fatal
    assert fatal
    assert main(["train", str(data), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    for message in fatal:
        assert message in err
    assert not (tmp_path / "out" / "model.onnx").exists()


def test_train_cli_refuses_bad_settings(tmp_path, capsys):
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--epochs", "0"]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--backbone", "vgg"]) == 1
    err = capsys.readouterr().err
    assert "Unknown backbone 'vgg'" in err and "mobilenet_v2" in err
    assert not (tmp_path / "o").exists()


def test_default_train_imports_no_tensorflow(sample_dataset_dir, trained_model, tmp_path):
    """Issue 25: with the backbone provisioned, `isit train` (linear head) runs without
    TensorFlow, Keras or tf2onnx, and its model answers like the session's model."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from training.cli import main\n"
        "if __name__ == '__main__':\n"
        "    code = main(['train', sys.argv[1], '--out', sys.argv[2], '--no-progress'])\n"
        "    print([m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules])\n"
        "    sys.exit(code)\n"
    )
    (tmp_path / "run.py").write_text(script)
    out = tmp_path / "model"
    done = subprocess.run(
        [sys.executable, str(tmp_path / "run.py"), str(sample_dataset_dir), str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    from isit.imaging import preprocess_batch

    files = sorted(p for p in sample_dataset_dir.rglob("*") if p.is_file())
    photos = [read_image_bytes(p) for p in files[:: max(1, len(files) // 12)]]

    new, before = ModelBundle(out / "model.onnx"), ModelBundle(trained_model.model_path)
    batch = preprocess_batch(photos, new.metadata.preprocess)
    for a, b in zip(new.run(batch), before.run(batch), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
