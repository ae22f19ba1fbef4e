"""The unknown score on generated features: the nearest training photo, its threshold from
leave-one-cluster-out scores, the cap on what model.onnx carries, and the ONNX nodes
that compute it (issue 22)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from isit.metadata import FEATURES, OOD_SCORE
from training.model import unknown as ood
from training.model.graph import add_unknown_score
from training.settings import UNKNOWN_ACCEPTANCE

DIM = 96


def _looks(rng: np.random.Generator, n_looks: int) -> np.ndarray:
    """Directions of a class's looks (non-negative, like pooled ReLU features)."""
    return np.abs(rng.normal(0, 1, (n_looks, DIM))) * 3


def _photos(rng: np.random.Generator, look: np.ndarray, n: int) -> np.ndarray:
    """Photos of one look: it varies along a few factors (pose, light), plus a little noise."""
    factors = np.random.default_rng(int(look[0] * 1e6)).normal(0, 1, (4, DIM))
    variation = rng.normal(0, 0.8, (n, 4)) @ factors
    return np.abs(look + variation + rng.normal(0, 0.2, (n, DIM))).astype(np.float32)


def _two_classes_with_a_minority_look(rng):
    """Class 0: a main look (60 photos) and a minority one (12, "night photos");
    class 1: one look (60). Returns x, y, groups and the looks."""
    looks = _looks(rng, 3)
    x = np.concatenate([_photos(rng, looks[0], 60), _photos(rng, looks[1], 12),
                        _photos(rng, looks[2], 60)])  # fmt: skip
    y = np.array([0] * 72 + [1] * 60)
    return x, y, np.arange(len(y)).astype(str), looks


def test_threshold_accepts_at_least_the_target_share():
    rng = np.random.default_rng(0)
    for target in (UNKNOWN_ACCEPTANCE, 0.98):
        for n in (7, 20, 101, 1000):
            scores = rng.gamma(2.0, 1.0, n)
            threshold = ood.choose_threshold(scores, target)
            assert np.mean(scores <= threshold) >= target
            # ...and not much more than needed (the smallest such threshold, up to rounding).
            assert np.mean(scores < threshold / 1.01 - 1e-6) < target or n < 30
    with pytest.raises(ValueError, match="no held-out images"):
        ood.choose_threshold(np.zeros(0), 0.95)


def test_score_is_the_cosine_distance_to_the_nearest_training_photo():
    rng = np.random.default_rng(1)
    x, y, groups, _ = _two_classes_with_a_minority_look(rng)
    reference = ood.fit_reference(x, y, groups)
    assert reference.rows.dtype == np.float16 and len(reference) == len(x)
    rows = reference.rows.astype(np.float32)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-3)
    # A training photo is (up to float16 rounding) at distance 0, at any scale.
    assert ood.ood_scores(x * 7, reference) == pytest.approx(np.zeros(len(x)), abs=2e-3)
    # By hand: 1 - the largest cosine to any training photo.
    query = np.abs(rng.normal(0, 3, (5, DIM))).astype(np.float32)
    unit = query / np.linalg.norm(query, axis=1, keepdims=True)
    expected = 1 - (unit @ rows.T).max(axis=1)
    assert ood.ood_scores(query, reference) == pytest.approx(expected, abs=1e-5)
    assert ood.ood_scores(np.zeros((0, DIM)), reference).shape == (0,)


def test_a_minority_look_is_accepted_and_unrelated_photos_rejected():
    """The lesson of the night photos: a class's minority look, present in training, is
    accepted like its main look; photos unlike any class are rejected. A centroid per
    class (the first score) sat between the looks and refused the minority one."""
    rng = np.random.default_rng(2)
    x, y, groups, looks = _two_classes_with_a_minority_look(rng)
    reference = ood.fit_reference(x, y, groups)
    threshold = ood.choose_threshold(reference.calibration, UNKNOWN_ACCEPTANCE)
    for look in looks:
        new = _photos(rng, look, 40)
        assert np.mean(ood.ood_scores(new, reference) <= threshold) >= 0.95
    unrelated = np.concatenate([_photos(rng, look, 20) for look in _looks(rng, 5)])
    assert np.mean(ood.ood_scores(unrelated, reference) > threshold) >= 0.95
    # The centroid of class 0 (main + minority look) refuses the new minority photos.
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    centroid = unit[y == 0].mean(axis=0)
    centroid /= np.linalg.norm(centroid)
    minority = _photos(rng, looks[1], 40)
    minority /= np.linalg.norm(minority, axis=1, keepdims=True)
    main = unit[(y == 0)][:60]
    assert np.median(1 - minority @ centroid) > np.quantile(1 - main @ centroid, 0.95)


def test_leave_one_cluster_out_never_scores_a_photo_against_its_own_cluster():
    rng = np.random.default_rng(3)
    x, y, groups, _ = _two_classes_with_a_minority_look(rng)
    groups[[1, 100]] = "copy"  # one photo in both classes: copies share a cluster
    clusters = ood.look_alike_clusters(x, y, groups)
    assert clusters[1] == clusters[100]
    loco = ood.fit_reference(x, y, groups).calibration
    assert loco.shape == (len(x),) and np.all(loco > 1e-3)  # never its own copy
    unit = ood.embed(x)
    for i in (0, 1, 65, 100):
        others = clusters != clusters[i]
        assert loco[i] == pytest.approx(1 - (unit[others] @ unit[i]).max(), abs=2e-3)
    # Exact copies are stored once.
    assert len(ood.fit_reference(x, y, groups)) == len(x) - 1


def test_a_large_folder_keeps_cluster_centres_up_to_the_cap():
    rng = np.random.default_rng(4)
    x, y, groups, looks = _two_classes_with_a_minority_look(rng)
    capped = ood.fit_reference(x, y, groups, cap=40)
    clusters = ood.look_alike_clusters(x, y, groups)
    assert len(np.unique(clusters)) <= len(capped) <= 40 + len(np.unique(clusters))
    loco = capped.calibration
    assert np.all(loco > 0) and len(loco) == len(x)
    # The capped reference and its own threshold still accept every look and reject
    # unrelated photos.
    threshold = ood.choose_threshold(loco, UNKNOWN_ACCEPTANCE)
    for look in looks:
        assert np.mean(ood.ood_scores(_photos(rng, look, 40), capped) <= threshold) >= 0.9
    unrelated = np.concatenate([_photos(rng, look, 20) for look in _looks(rng, 5)])
    assert np.mean(ood.ood_scores(unrelated, capped) > threshold) >= 0.95


def _score_graph(reference_rows: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph([], "score", [helper.make_tensor_value_info(
        FEATURES, TensorProto.FLOAT, ["N", DIM])], [])  # fmt: skip
    add_unknown_score(graph, reference_rows, 17)
    graph.output.append(helper.make_tensor_value_info(OOD_SCORE, TensorProto.FLOAT, ["N"]))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_onnx_nodes_compute_the_numpy_score():
    rng = np.random.default_rng(5)
    x, y, groups, _ = _two_classes_with_a_minority_look(rng)
    reference = ood.fit_reference(x, y, groups)
    model = _score_graph(reference.rows)
    onnx.checker.check_model(model)
    initializers = {i.name: i for i in model.graph.initializer}
    assert any(i.data_type == TensorProto.FLOAT16 for i in initializers.values())
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    query = np.concatenate([x[:10], np.abs(rng.normal(0, 3, (10, DIM)))]).astype(np.float32)
    (got,) = session.run([OOD_SCORE], {FEATURES: query})
    assert got == pytest.approx(ood.ood_scores(query, reference), abs=1e-5)
