"""Kept feature maps (issue 25): read back as written, by the photo's bytes; a damaged or
foreign entry is never used. Fast: a tiny real backbone (tests/helpers)."""

from __future__ import annotations

import os

import numpy as np
from featuresgen import write_backbone

from isit.feature_extractor import FeatureExtractor
from training.data.feature_map_cache import FeatureMapCache
from training.pipeline.package import PARITY_PHOTOS, photos_to_run


def test_a_kept_map_comes_back_for_the_same_photo_only(tmp_path):
    extractor = FeatureExtractor(write_backbone(tmp_path / "tiny.onnx"))
    maps = FeatureMapCache(extractor, tmp_path / "maps")
    rng = np.random.default_rng(0)
    feature_map = rng.normal(size=(extractor.feature_dim, 7, 7)).astype(np.float32)
    assert maps.get("a" * 64) is None
    maps.put("a" * 64, feature_map)
    np.testing.assert_array_equal(maps.get("a" * 64), feature_map)
    assert maps.get("b" * 64) is None


def test_a_damaged_or_foreign_entry_is_not_used(tmp_path):
    extractor = FeatureExtractor(write_backbone(tmp_path / "tiny.onnx"))
    maps = FeatureMapCache(extractor, tmp_path / "maps")
    maps.put("c" * 64, np.zeros((extractor.feature_dim, 7, 7), np.float32))
    path = maps._path("c" * 64)
    path.write_bytes(path.read_bytes()[:100])  # cut short
    assert maps.get("c" * 64) is None
    maps.put("d" * 64, np.zeros((extractor.feature_dim + 1, 7, 7), np.float32))
    assert maps.get("d" * 64) is None  # another feature size: another backbone's
    maps.put("e" * 64, np.zeros((extractor.feature_dim,), np.float32))
    assert maps.get("e" * 64) is None


def test_the_model_runs_on_the_unkept_gallery_photos_and_enough_for_its_check():
    gallery = [0, 2, 5, 9]
    assert photos_to_run(gallery, set(), 20)[:4] == gallery
    run = photos_to_run(gallery, {2, 5, 9}, 20)
    assert run[0] == 0 and len(run) == PARITY_PHOTOS  # kept photos fill up the check first
    assert run[1:4] == [2, 5, 9] and set(run[4:]).isdisjoint(gallery)
    assert photos_to_run([0, 1, 2], {0, 1}, 3) == [2, 0, 1]  # a tiny folder: what there is


def test_the_least_recently_used_maps_go_first_past_the_limit(tmp_path):
    extractor = FeatureExtractor(write_backbone(tmp_path / "tiny.onnx"))
    maps = FeatureMapCache(extractor, tmp_path / "maps")
    feature_map = np.ones((extractor.feature_dim, 7, 7), np.float32)
    names = ["1" * 64, "2" * 64, "3" * 64]
    for age, name in enumerate(names):
        maps.put(name, feature_map)
        stamp = 1_000_000 + 1000 * age
        os.utime(maps._path(name), (stamp, stamp))
    assert maps.get(names[0]) is not None  # used now: it becomes the newest
    size_mb = maps._path(names[1]).stat().st_size / 2**20
    assert maps.trim(limit_mb=2.5 * size_mb) == 1
    assert maps.get(names[1]) is None  # the least recently used went
    assert maps.get(names[0]) is not None and maps.get(names[2]) is not None
    assert maps.trim(limit_mb=2.5 * size_mb) == 0  # under the limit: nothing goes
