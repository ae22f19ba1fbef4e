"""Features of many photos on two forked workers (issue 25): the same features as one
process computes, the same trust (a changed photo is named), ``meanwhile`` run once.
Fast: a tiny real backbone (tests/helpers); the forked runs in a fresh interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from featuresgen import write_backbone
from fresh_process import run_fresh, two_cores
from synthetic import write_photos

from isit.feature_extractor import FeatureExtractor
from training.data.feature_cache import Entry, FeatureCache, sha256_bytes


@two_cores
def test_forked_workers_compute_what_this_process_computes(tmp_path):
    run_fresh(f"""
        from pathlib import Path
        import numpy as np
        from featuresgen import write_backbone
        from synthetic import write_photos
        from isit.feature_extractor import FeatureExtractor
        from training.data import feature_cache
        from training.data.feature_cache import WORKER_CHUNK, Entry, FeatureCache, sha256_bytes

        tmp = Path({str(tmp_path)!r})
        extractor = FeatureExtractor(write_backbone(tmp / "tiny.onnx"))
        photos = write_photos(tmp / "photos", 2 * WORKER_CHUNK + 5, seed=3)
        entries = [Entry(sha256_bytes(p.read_bytes()), p) for p in photos]
        calls = []
        def here(batch):
            raise AssertionError("this process ran the backbone, not the workers")
        extractor.run = here
        cache = FeatureCache(extractor, tmp / "cache", progress=False)
        got = cache.get(entries, meanwhile=lambda: calls.append(1))
        assert calls == [1] and cache.computed == len(entries)
        assert feature_cache._worker_extractors == {{}}  # their sessions stayed theirs
        del extractor.run
        direct = extractor.from_bytes([p.read_bytes() for p in photos])
        np.testing.assert_allclose(got, direct, atol=1e-6)
        # Stored for the next run, under each photo's hash: read back, nothing computed.
        again = FeatureCache(extractor, tmp / "cache", progress=False)
        np.testing.assert_array_equal(again.get(entries), got)
        assert again.computed == 0
    """)


@two_cores
def test_a_photo_changed_since_the_check_is_named_by_the_workers(tmp_path):
    run_fresh(f"""
        import shutil
        from pathlib import Path
        from featuresgen import write_backbone
        from synthetic import write_photos
        from isit.feature_extractor import FeatureExtractor
        from training.data.feature_cache import (WORKER_CHUNK, Entry, FeatureCache,
                                                 PhotosChanged, sha256_bytes)

        tmp = Path({str(tmp_path)!r})
        extractor = FeatureExtractor(write_backbone(tmp / "tiny.onnx"))
        photos = write_photos(tmp / "photos", 2 * WORKER_CHUNK + 3, seed=4)
        entries = [Entry(sha256_bytes(p.read_bytes()), p) for p in photos]
        shutil.copyfile(photos[0], photos[-1])  # replaced after the check listed it
        photos[5].unlink()  # gone since
        try:
            FeatureCache(extractor, tmp / "cache", progress=False).get(entries)
        except PhotosChanged as exc:
            assert set(exc.paths) == {{str(photos[-1]), str(photos[5])}}, exc.paths
        else:
            raise AssertionError("the changed photos were not named")
    """)


@pytest.mark.parametrize("cached", [True, False])
def test_meanwhile_runs_once_without_workers(tmp_path, cached):
    """One photo (no workers) or nothing to compute: ``meanwhile`` still runs, once."""
    extractor = FeatureExtractor(write_backbone(tmp_path / "tiny.onnx"))
    photos = write_photos(tmp_path / "photos", 1, seed=5)
    entries = [Entry(sha256_bytes(photos[0].read_bytes()), photos[0])]
    if cached:
        FeatureCache(extractor, tmp_path / "cache", progress=False).get(entries)
    calls: list[int] = []
    cache = FeatureCache(extractor, tmp_path / "cache", progress=False)
    got = cache.get(entries, meanwhile=lambda: calls.append(1))
    assert calls == [1] and cache.computed == (0 if cached else 1)
    np.testing.assert_allclose(got, extractor.from_bytes([photos[0].read_bytes()]), atol=1e-6)


@two_cores
def test_a_run_stopped_midway_keeps_the_features_computed_before(tmp_path):
    run_fresh(f"""
        from pathlib import Path
        from featuresgen import write_backbone
        from synthetic import write_photos
        from isit.feature_extractor import FeatureExtractor
        from training.data.feature_cache import WORKER_CHUNK, Entry, FeatureCache, sha256_bytes

        tmp = Path({str(tmp_path)!r})
        extractor = FeatureExtractor(write_backbone(tmp / "tiny.onnx"))
        photos = write_photos(tmp / "photos", 3 * WORKER_CHUNK, seed=6)
        entries = [Entry(sha256_bytes(p.read_bytes()), p) for p in photos]
        pixels = FeatureCache._pixels

        def stopped(self, entry):  # the third chunk never finishes
            if entry.source == photos[2 * WORKER_CHUNK]:
                raise RuntimeError("stopped")
            return pixels(self, entry)

        FeatureCache._pixels = stopped
        try:
            FeatureCache(extractor, tmp / "cache", progress=False).get(entries)
        except RuntimeError as exc:
            assert "stopped" in str(exc)
        else:
            raise AssertionError("the stop did not reach the caller")
        FeatureCache._pixels = pixels
        again = FeatureCache(extractor, tmp / "cache", progress=False)
        again.get(entries)
        assert again.hits == 2 * WORKER_CHUNK and again.computed == WORKER_CHUNK
    """)
