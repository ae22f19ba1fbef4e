"""The training pieces on their own: metrics, the unknown rule, feature cache, sample data,
export and parity (the unknown score itself: test_unknown_score.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from isit.bundle import is_unknown
from isit.imaging import decode
from training.data.feature_cache import Entry, FeatureCache, augment, sha256_bytes
from training.data.sampledata import CLASSES, generate
from training.evaluation.classification import best_guess, expected_calibration_error
from training.model import unknown as ood


def test_ece_of_perfectly_calibrated_and_overconfident_scores():
    # 10 answers at confidence 0.8, 8 of them right: calibrated.
    p = np.tile([[0.8, 0.2]], (10, 1))
    y = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(p, y) == pytest.approx(0.0)
    # Same confidence, only half right: off by 0.3.
    y = np.array([0] * 5 + [1] * 5)
    assert expected_calibration_error(p, y) == pytest.approx(0.3)


def test_best_guess_metrics_by_hand():
    labels = ["a", "b", "c"]
    y = np.array([0, 0, 1, 1, 2])
    p = np.eye(3)[[0, 1, 1, 1, 2]] * 0.9 + 0.1 / 3
    m = best_guess(y, p, labels)
    assert m.n == 5 and m.accuracy.value == pytest.approx(0.8)
    assert m.confusion == ((1, 1, 0), (0, 2, 0), (0, 0, 1))
    a = m.per_class["a"].to_dict()
    # Issue 12: each proportion also has its k, n and 95% Wilson interval.
    precision, recall = a.pop("precision_interval"), a.pop("recall_interval")
    assert a == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "n": 2}
    assert (precision["k"], precision["n"], recall["k"], recall["n"]) == (1, 1, 1, 2)
    assert recall["low"] < 0.5 < recall["high"]
    assert m.per_class["b"].precision.value == pytest.approx(2 / 3)


def test_negatives_class_wins_means_unknown():
    probs = np.array([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7]])
    scores = np.array([0.1, 0.1])
    assert is_unknown(probs, scores, 1.0, [2]).tolist() == [False, True]
    assert is_unknown(probs, scores, 0.05, []).tolist() == [True, True]
    # One threshold per photo (each cross-validation fold's own).
    assert is_unknown(probs, scores, np.array([0.05, 1.0])).tolist() == [True, False]


def test_one_unknown_rule_for_the_model_and_training(tmp_path, monkeypatch):
    """The deployed model's answers and training's counts come from one rule: unknown
    when the score passes the threshold or the negatives class wins."""
    import json

    import modelgen
    import onnx

    from isit.bundle import ModelBundle
    from isit.imaging import preprocess_batch
    from training.pipeline.threshold import UnknownRule

    monkeypatch.setitem(modelgen.CENTROIDS, "other", (0.5, 0.5, 0.5))
    model = modelgen.build_model(("red_thing", "blue_thing", "other"))
    for prop in model.metadata_props:
        if prop.key == "isit.unknown":
            prop.value = json.dumps({**json.loads(prop.value), "negative_labels": ["other"]})
    onnx.save_model(model, str(tmp_path / "model.onnx"))
    bundle = ModelBundle(tmp_path / "model.onnx")
    assert bundle.negative_idx == (2,)
    photos = [modelgen.photo(c, seed=i) for i, c in enumerate(("red", "blue", "green", "grey"))]
    batch = preprocess_batch(photos, bundle.metadata.preprocess)
    p, scores = bundle.run(batch)
    answered = [a.unknown for a in bundle.predict_arrays(batch)]
    # red and blue known; green far from every class; grey is "other": near, yet unknown.
    assert answered == [False, False, True, True]
    assert scores[2] > bundle.threshold > scores[3] and p[3].argmax() == 2
    rule = UnknownRule(bundle.threshold, ("other",), (2,), np.zeros(0), 0.95, 0.0)
    assert rule.is_unknown(p, scores).tolist() == answered
    per_photo = np.array([0.0, 1.0, 1.0, 1.0])  # red over its own threshold
    assert rule.is_unknown(p, scores, per_photo).tolist() == [True, False, True, True]
    assert p[2].argmax() == 2  # green: no score over 1.0, but "other" is its nearest class


def test_probe_images_ship_offline_and_decode():
    probes = ood.probe_images()
    assert len(probes) >= 20
    names = {name for name, _ in probes}
    assert {"skimage:astronaut.png", "sklearn:china.jpg"} <= names
    for _, data in probes:
        decode(data)


def test_augmented_views_are_deterministic_and_different():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8))
    a1 = np.asarray(augment(img, "ab" * 32, 1))
    again = np.asarray(augment(img, "ab" * 32, 1))
    a2 = np.asarray(augment(img, "ab" * 32, 2))
    assert np.array_equal(a1, again)
    assert a1.shape != a2.shape or not np.array_equal(a1, a2)


def test_sample_data_is_deterministic_varied_and_readable(tmp_path):
    a = generate(tmp_path / "a", per_class=6, seed=3)
    b = generate(tmp_path / "b", per_class=6, seed=3)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
    assert {f.parts[0] for f in files_a} == set(CLASSES)
    assert len({f.suffix for f in files_a}) >= 3
    sizes = {decode((a / f).read_bytes()).image.size for f in files_a}
    assert len(sizes) > 5


@pytest.mark.slow
def test_feature_cache_computes_once_per_view(trained_model, sample_dataset_dir, tmp_path):
    from isit.feature_extractor import FeatureExtractor
    from training.backbones.provision import provision

    extractor = FeatureExtractor(provision("mobilenet_v2"))
    paths = sorted((sample_dataset_dir / "circles").iterdir())[:2]
    entries = [Entry(sha256_bytes(p.read_bytes()), p, view) for p in paths for view in (0, 1, 2)]
    cache = FeatureCache(extractor, tmp_path / "cache", progress=False)
    first = cache.get(entries)
    assert first.shape == (6, 1280) and cache.computed == 6 and cache.hits == 0
    assert not np.allclose(first[0], first[1])  # an augmented view is another picture
    # The un-augmented view equals the backbone run on the core's preprocessing.
    direct = extractor.from_bytes([paths[0].read_bytes()])[0]
    assert np.allclose(first[0], direct, atol=1e-5)
    again = FeatureCache(extractor, tmp_path / "cache", progress=False)
    assert np.array_equal(again.get(entries), first)
    assert again.computed == 0 and again.hits == 6


# ---------------------------------------------------------------- export and parity
@pytest.fixture(scope="module")
def export_inputs(sample_dataset_dir):
    """Real backbone features of 3 photos per class, an exact linear head fitted on them,
    the unknown score's reference rows and classifier metadata: what `train` hands to the
    export."""
    from isit.feature_extractor import FeatureExtractor
    from isit.metadata import ModelMetadata, UnknownSpec
    from training.backbones.provision import provision
    from training.model.head import fit_linear

    backbone_path = provision("mobilenet_v2")
    extractor = FeatureExtractor(backbone_path)
    paths = [p for label in CLASSES for p in sorted((sample_dataset_dir / label).iterdir())[:3]]
    images = [p.read_bytes() for p in paths]
    y = np.repeat(np.arange(len(CLASSES)), 3)
    x = extractor.from_bytes(images)
    head = fit_linear(x, y, len(CLASSES), c=0.1)
    metadata = ModelMetadata(
        kind="classifier",
        name="parity",
        version="1",
        preprocess=extractor.spec,
        backbone=extractor.metadata.backbone,
        labels=CLASSES,
        unknown=UnknownSpec(threshold=0.3, method=ood.METHOD),
    )
    reference = ood.fit_reference(x, y, np.arange(len(y)))
    return backbone_path, images, x, head, reference, metadata


def _expected(head, x, reference):
    from training.model.head import predict_proba

    return predict_proba(head, x), ood.ood_scores(x, reference)


@pytest.mark.slow
def test_export_joins_backbone_and_head_and_passes_parity(export_inputs, tmp_path):
    import onnx

    from isit.bundle import ModelBundle
    from training.model.graph import check_parity, export

    backbone_path, images, x, head, reference, metadata = export_inputs
    path = export(backbone_path, head, reference.rows, metadata, tmp_path / "model.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == [
        "probabilities",
        "ood_score",
        "heatmap",
    ]  # issue 15
    assert ModelBundle(path).metadata == metadata
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left nothing behind
    parity = check_parity(path, images, *_expected(head, x, reference))
    assert parity["n"] == len(images)
    assert parity["max_probability_diff"] <= 1e-4 and parity["max_ood_diff"] <= 1e-4


@pytest.mark.slow
def test_parity_catches_a_broken_head_or_unknown_score(export_inputs, tmp_path):
    """A model whose head weights (or unknown reference) are not the trained ones is
    refused."""
    from dataclasses import replace

    from training.model.graph import ExportMismatch, check_parity, export

    backbone_path, images, x, head, reference, metadata = export_inputs
    expected = _expected(head, x, reference)

    rng = np.random.default_rng(0)
    perturbed = replace(head, kernel=head.kernel + rng.normal(0, 0.02, head.kernel.shape))
    broken = export(backbone_path, perturbed, reference.rows, metadata, tmp_path / "head.onnx")
    with pytest.raises(ExportMismatch, match="probabilities differ") as caught:
        check_parity(broken, images, *expected)
    assert caught.value.code == "export_mismatch"

    rows = reference.rows.astype(np.float32)
    shifted = ood.l2_normalise(rows + rng.normal(0, 0.05, rows.shape))
    broken = export(backbone_path, head, shifted, metadata, tmp_path / "ood.onnx")
    with pytest.raises(ExportMismatch, match="unknown scores differ"):
        check_parity(broken, images, *expected)


@pytest.mark.slow
@pytest.mark.parametrize("temperature", [1.0, 0.05, 2.5])
def test_onnx_nodes_compute_what_the_tf2onnx_head_computed(export_inputs, tmp_path, temperature):
    """The linear head written as ONNX nodes gives the outputs of the head converted
    from Keras with tf2onnx (the export before issue 25) within 1e-4, heatmap included."""
    from isit.bundle import ModelBundle
    from isit.imaging import preprocess_batch
    from training.model.graph import export
    from training.model.head import keras_linear_head

    backbone_path, images, _, head, reference, metadata = export_inputs
    nodes = export(backbone_path, head, reference.rows, metadata, tmp_path / "nodes.onnx",
                   temperature)  # fmt: skip
    converted = export(backbone_path, keras_linear_head(head), reference.rows, metadata,
                       tmp_path / "tf2onnx.onnx", temperature)  # fmt: skip
    batch = preprocess_batch(images, metadata.preprocess)
    outputs = ["probabilities", "ood_score", "heatmap"]
    new = ModelBundle(nodes).session.run(outputs, {"image": batch})
    old = ModelBundle(converted).session.run(outputs, {"image": batch})
    for name, a, b in zip(outputs, new, old, strict=True):
        assert a.shape == b.shape, name
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, float(np.abs(b).max())), name


@pytest.mark.slow
def test_export_refuses_a_backbone_the_head_was_not_trained_on(export_inputs, tmp_path):
    from dataclasses import replace

    from isit.metadata import BackboneInfo
    from training.model.graph import ExportMismatch, export

    backbone_path, _, _, head, reference, metadata = export_inputs
    other = replace(metadata, backbone=BackboneInfo("efficientnet_lite0", "0" * 64, 1280))
    with pytest.raises(ExportMismatch, match="not the backbone the model was trained on"):
        export(backbone_path, head, reference.rows, other, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
