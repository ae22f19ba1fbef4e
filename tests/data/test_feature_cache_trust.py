"""Issue 26: the feature cache never holds one photo's features under another's hash, and
an unwritable cache never stops the work. Fast: a tiny real backbone (tests/helpers)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import numpy as np
import pytest
from featuresgen import write_backbone
from synthetic import write_photos

from isit.feature_extractor import FeatureExtractor
from training.data import feature_cache
from training.data.feature_cache import Entry, FeatureCache, PhotosChanged, sha256_bytes


@pytest.fixture(scope="module")
def extractor(tmp_path_factory) -> FeatureExtractor:
    return FeatureExtractor(write_backbone(tmp_path_factory.mktemp("backbone") / "tiny.onnx"))


@pytest.fixture
def photos(tmp_path) -> tuple[list[Path], list[Path]]:
    """Two folders of different photos ("elsa" and "vader")."""
    return write_photos(tmp_path / "elsa", 4, seed=1), write_photos(tmp_path / "vader", 4, seed=2)


def direct(extractor: FeatureExtractor, path: Path) -> np.ndarray:
    return extractor.from_bytes([path.read_bytes()])[0]


def test_a_photo_replaced_after_the_check_never_poisons_the_cache(extractor, photos, tmp_path):
    elsa, vader = photos
    checked = [Entry(sha256_bytes(p.read_bytes()), p) for p in elsa]  # what the check saw
    originals = [p.read_bytes() for p in elsa]
    for target, other in zip(elsa[:2], vader[:2], strict=True):  # replaced before features
        shutil.copyfile(other, target)
    cache = FeatureCache(extractor, tmp_path / "cache", progress=False)
    with pytest.raises(PhotosChanged) as raised:
        cache.get(checked)
    assert set(raised.value.paths) == {str(p) for p in elsa[:2]}
    assert "changed while training" in raised.value.message and "re-run" in raised.value.message
    # Restored: the entries under the Elsa photos' hashes are Elsa's features, not Vader's.
    for path, data in zip(elsa, originals, strict=True):
        path.write_bytes(data)
    again = FeatureCache(extractor, tmp_path / "cache", progress=False)
    got = again.get(checked)
    for i, path in enumerate(elsa):
        assert np.allclose(got[i], direct(extractor, path), atol=1e-5)
    # What was decoded was kept under its own hash: the Vader photos' features are cached.
    vader_entries = [Entry(sha256_bytes(p.read_bytes()), p) for p in vader[:2]]
    assert np.allclose(again.get(vader_entries)[0], direct(extractor, vader[0]), atol=1e-5)
    assert again.computed == 2 and again.hits == 2 + 2  # unchanged and vader entries reused


def test_a_photo_gone_since_the_check_is_reported(extractor, photos, tmp_path):
    elsa, _ = photos
    checked = [Entry(sha256_bytes(p.read_bytes()), p) for p in elsa]
    elsa[1].unlink()
    cache = FeatureCache(extractor, tmp_path / "cache", progress=False)
    with pytest.raises(PhotosChanged, match="1 photo"):
        cache.get(checked)


def test_an_entry_computed_from_another_photo_is_discarded(extractor, photos, tmp_path):
    elsa, vader = photos
    cache = FeatureCache(extractor, tmp_path / "cache", progress=False)
    a, b = Entry(sha256_bytes(elsa[0].read_bytes()), elsa[0]), Entry(
        sha256_bytes(vader[0].read_bytes()), vader[0]
    )
    cache.get([a, b])
    # A poisoned cache from elsewhere: B's entry file under A's name.
    shutil.copyfile(cache._path(b), cache._path(a))
    again = FeatureCache(extractor, tmp_path / "cache", progress=False)
    got = again.get([a])
    assert again.discarded == 1 and again.computed == 1
    assert np.allclose(got[0], direct(extractor, elsa[0]), atol=1e-5)
    # A half-written entry is discarded the same way.
    cache._path(a).write_bytes(cache._path(a).read_bytes()[:20])
    third = FeatureCache(extractor, tmp_path / "cache", progress=False)
    third.get([a])
    assert third.discarded == 1 and third.computed == 1


def test_an_unwritable_cache_is_skipped_with_a_warning(extractor, photos, tmp_path, capsys):
    elsa, _ = photos
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")  # root ignores permission bits; a file in the way does not
    cache = FeatureCache(extractor, blocker / "cache", progress=False)
    entries = [Entry(sha256_bytes(p.read_bytes()), p) for p in elsa]
    got = cache.get(entries)
    assert np.allclose(got[0], direct(extractor, elsa[0]), atol=1e-5)
    assert not cache.writable and cache.computed == len(elsa)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and str(blocker / "cache") in warnings[0]


def test_a_full_cache_disk_does_not_stop_the_work(extractor, photos, tmp_path, monkeypatch, capsys):
    elsa, _ = photos

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(feature_cache, "atomic_write_with", full)
    cache = FeatureCache(extractor, tmp_path / "cache", progress=False)
    got = cache.get([Entry(sha256_bytes(p.read_bytes()), p) for p in elsa])
    assert got.shape == (len(elsa), extractor.feature_dim) and np.abs(got).sum() > 0
    assert "No space left on device" in capsys.readouterr().err
