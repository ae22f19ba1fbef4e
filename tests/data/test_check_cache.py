"""The check from a cache (issue 25): an unchanged folder's second check decodes nothing,
a changed file is read again, and a damaged cache entry is ignored."""

from __future__ import annotations

import json

import pytest
from synthetic import draw_photo, write_photos

from training.data.doctor import check_dataset, file_hashes


@pytest.fixture
def decodes(monkeypatch, tmp_path):
    """Counts the check's decodes (in this process: workers=1), with a cache of its own."""
    monkeypatch.setenv("ISIT_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[int] = []
    decode = file_hashes.decode_for_fingerprint

    def counted(data, *args, **kwargs):
        seen.append(len(data))
        return decode(data, *args, **kwargs)

    monkeypatch.setattr(file_hashes, "decode_for_fingerprint", counted)
    return seen


def _folder(root):
    write_photos(root / "cats", 6, seed=1)
    write_photos(root / "dogs", 6, seed=2)
    return root


def _facts(report):
    return json.dumps(report.to_json()["images"], sort_keys=True, default=str)


def test_second_check_decodes_nothing_and_says_the_same(tmp_path, decodes):
    data = _folder(tmp_path / "data")
    first = check_dataset(data, progress=False, workers=1)
    assert len(decodes) == 12
    decodes.clear()
    second = check_dataset(data, progress=False, workers=1)
    assert decodes == []
    assert _facts(second) == _facts(first)
    assert second.split_images("test") == first.split_images("test")


def test_a_changed_file_is_read_again(tmp_path, decodes):
    data = _folder(tmp_path / "data")
    first = check_dataset(data, progress=False, workers=1)
    changed = data / "cats" / "img_002.jpg"
    draw_photo(999, (200, 150)).save(changed, quality=90)
    decodes.clear()
    second = check_dataset(data, progress=False, workers=1)
    assert decodes == [changed.stat().st_size]  # that file only
    before = {i["path"]: i["sha256"] for i in first.to_json()["images"]}
    after = {i["path"]: i["sha256"] for i in second.to_json()["images"]}
    assert [p for p in after if after[p] != before[p]] == ["cats/img_002.jpg"]


def test_a_damaged_entry_is_ignored_not_trusted(tmp_path, decodes):
    data = _folder(tmp_path / "data")
    first = check_dataset(data, progress=False, workers=1)
    entries = sorted((tmp_path / "cache" / "check").rglob("*.fp"))
    assert len(entries) == 12
    entries[0].write_bytes(entries[0].read_bytes()[:-10])  # truncated
    raw = bytearray(entries[1].read_bytes())
    raw[-1] ^= 0xFF  # one flipped byte of the thumbnail
    entries[1].write_bytes(bytes(raw))
    entries[2].write_bytes(b"not a cache entry")
    decodes.clear()
    second = check_dataset(data, progress=False, workers=1)
    assert len(decodes) == 3
    assert _facts(second) == _facts(first)


def test_the_minimum_side_still_applies_to_cached_photos(tmp_path, decodes):
    data = _folder(tmp_path / "data")
    check_dataset(data, progress=False, workers=1)
    decodes.clear()
    strict = check_dataset(data, progress=False, workers=1, min_side=200)
    assert decodes == []
    assert {p.kind for p in strict.problems} == {"too_small"}


def test_the_shortcut_audit_says_the_same_from_the_cache(tmp_path, decodes):
    """The cache keeps each photo's shortcut facts too: a framed class is named again
    by a second check that decodes nothing."""
    from PIL import Image
    from shortcut_planting import framed

    data = tmp_path / "data"
    write_photos(data / "cats", 30, seed=1)
    write_photos(data / "dogs", 30, seed=2)
    for path in sorted((data / "cats").glob("*.jpg")):
        framed(Image.open(path).convert("RGB"), share=0.1).save(path, quality=90)
    first = check_dataset(data, progress=False, workers=1)
    decodes.clear()
    second = check_dataset(data, progress=False, workers=1)
    assert decodes == []
    named = [w.to_json() for w in first.shortcut_warnings]
    assert named and [w.to_json() for w in second.shortcut_warnings] == named
