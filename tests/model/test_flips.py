"""Test-time flips (issue 28): inside the graph, exact, and the heatmap stays exact."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from featuresgen import SIZE, write_backbone

from isit.feature_extractor import FeatureExtractor
from isit.metadata import FEATURES, HEATMAP, INPUT_NAME, PROBABILITIES
from training.data.feature_cache import Entry, sha256_bytes
from training.finetune.views import MIRROR, cached_views
from training.model.flips import add_flips
from training.model.graph import join_linear_head
from training.model.head import LinearSolution
from training.model.heatmap import add_heatmap


def _run(model: onnx.ModelProto, names: list[str], x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(names, {INPUT_NAME: x})


def test_flipped_features_are_the_mean_of_the_photo_and_its_mirror(tmp_path):
    plain = onnx.load(str(write_backbone(tmp_path / "b.onnx")))
    flipped = add_flips(onnx.load(str(tmp_path / "b.onnx")))
    onnx.checker.check_model(flipped)
    x = np.random.default_rng(0).normal(0, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    (photo,) = _run(plain, [FEATURES], x)
    (mirror,) = _run(plain, [FEATURES], np.ascontiguousarray(x[:, :, ::-1]))
    (both,) = _run(flipped, [FEATURES], x)
    assert np.abs(both - (photo + mirror) / 2).max() < 1e-5
    assert np.abs(photo - mirror).max() > 1e-3  # the random backbone is not symmetric
    # The photo and its mirror image now get the very same answer.
    (again,) = _run(flipped, [FEATURES], np.ascontiguousarray(x[:, :, ::-1]))
    assert np.abs(both - again).max() < 1e-5


def test_the_heatmap_of_a_flipped_model_is_exact(tmp_path):
    model = add_flips(onnx.load(str(write_backbone(tmp_path / "b.onnx"))))
    rng = np.random.default_rng(1)
    head = LinearSolution(rng.normal(0, 1, (8, 3)), rng.normal(0, 1, 3), 1.0)
    model = join_linear_head(model, head, rng.normal(0, 1, (3, 8)), temperature=1.0)
    kernel = head.kernel - head.kernel.mean(axis=1, keepdims=True)
    assert add_heatmap(model, kernel)
    x = rng.normal(0, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    heat, probabilities = _run(model, [HEATMAP, PROBABILITIES], x)
    # The spatial mean of each class's map is its logit of the averaged features, up to
    # what all classes share (and the bias): softmax of it gives the model's answer back.
    means = heat.mean(axis=(2, 3)) + head.bias
    from_map = np.exp(means - means.max(1, keepdims=True))
    from_map /= from_map.sum(1, keepdims=True)
    assert np.abs(from_map - probabilities).max() < 1e-5


def test_the_mirror_view_is_the_preprocessed_photo_flipped(tmp_path):
    from synthetic import draw_photo

    extractor = FeatureExtractor(write_backbone(tmp_path / "b.onnx"))
    path = tmp_path / "p.jpg"
    draw_photo(3, (90, 70)).save(path)
    entry = Entry(sha256_bytes(path.read_bytes()), path)
    photo = extractor.from_bytes([path.read_bytes()])
    mirrored = cached_views(extractor, [entry], MIRROR)
    pixels = np.asarray(_pixels(extractor, path))[:, :, ::-1]
    assert np.abs(mirrored - extractor.run(np.ascontiguousarray(pixels))).max() < 1e-6
    assert np.abs(mirrored - photo).max() > 1e-4
    assert np.array_equal(cached_views(extractor, [entry], MIRROR), mirrored)  # from the cache


def _pixels(extractor: FeatureExtractor, path) -> np.ndarray:
    from isit.imaging import preprocess_batch

    return preprocess_batch([path.read_bytes()], extractor.spec)
