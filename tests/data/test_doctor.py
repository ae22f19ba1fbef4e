"""The dataset doctor on generated photo folders with planted copies, near-copies and junk."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic import draw_photo, random_palette, write_photos

from training.data.doctor import DatasetInvalid, check_dataset, format_summary
from training.data.doctor.split import parse_split, unit


def _jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _open(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    return {
        p.relative_to(root).as_posix(): (
            p.stat().st_size,
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# Every planted duplicate group, problem and conflict; the tests assert exactly these.
PLANTED_GROUPS = {
    ("cats/img_000 - Copy.jpg", "cats/img_000.jpg"): "identical_bytes",
    ("cats/img_001.jpg", "cats/img_001.png"): "identical_pixels",
    ("cats/img_002.jpg", "cats/img_002 [small].jpg"): "near",
    ("dogs/img_003.jpg", "dogs/img_003_q50.jpg"): "near",
    ("dogs/img_004.jpg", "dogs/img_004 (cropped 5%).jpg"): "near",
    ("cats/img_005.jpg", "dogs/cat in dogs.jpg"): "identical_bytes",
}
PLANTED_CONFLICTS = [["cats/img_005.jpg", "dogs/cat in dogs.jpg"]]
PLANTED_PROBLEMS = {
    ".DS_Store": "hidden",
    ".git/": "hidden",
    "labels.csv": "outside_class_folder",
    "stray photo.jpg": "outside_class_folder",
    "cats/.hidden.jpg": "hidden",
    "cats/truncated.jpg": "not_an_image",
    "cats/empty.jpg": "empty",
    "cats/tiny.png": "too_small",
    "dogs/notes.jpg": "not_an_image",
    "dogs/readme.txt": "not_an_image",
}


def make_planted(root: Path) -> Path:
    cats = write_photos(root / "cats", 30, seed=1)
    dogs = write_photos(root / "dogs", 30, seed=2)
    write_photos(root / "birds", 3, seed=3)  # below the default minimum of 5
    # "other": scenes in ONE palette: alike, but different photos; none may merge.
    palette = random_palette(99)
    (root / "other").mkdir()
    for i in range(8):
        draw_photo(400 + i, palette=palette).save(root / "other" / f"same palette {i}.jpg")
    # Odd but valid names and a nested folder.
    (root / "cats" / "2019" / "holiday").mkdir(parents=True)
    draw_photo(501).save(root / "cats" / "2019" / "holiday" / "beach [1] (final).jpg")
    draw_photo(502).save(root / "cats" / "café ☕ ünïcode.jpg")

    # Copies.
    shutil.copyfile(cats[0], root / "cats" / "img_000 - Copy.jpg")
    _open(cats[1]).save(root / "cats" / "img_001.png")  # the same decoded pixels
    small = _open(cats[2])
    small.resize((small.width // 2, small.height // 2), Image.Resampling.LANCZOS).save(
        root / "cats" / "img_002 [small].jpg", quality=85
    )
    (root / "dogs" / "img_003_q50.jpg").write_bytes(_jpeg_bytes(_open(dogs[3]), 50))
    img = _open(dogs[4])
    w, h = img.size  # 5% off in total per side pair, unevenly: 2% left 3% right, 1%/4%
    img.crop((round(w * 0.02), round(h * 0.01), round(w * 0.97), round(h * 0.96))).save(
        root / "dogs" / "img_004 (cropped 5%).jpg", quality=92
    )
    shutil.copyfile(cats[5], root / "dogs" / "cat in dogs.jpg")  # same photo, other class

    # Junk.
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "labels.csv").write_text("path,label\n")
    draw_photo(505).save(root / "stray photo.jpg")
    shutil.copyfile(cats[6], root / "cats" / ".hidden.jpg")
    whole = _jpeg_bytes(draw_photo(503))
    (root / "cats" / "truncated.jpg").write_bytes(whole[: len(whole) * 6 // 10])
    (root / "cats" / "empty.jpg").write_bytes(b"")
    draw_photo(504, (16, 16)).save(root / "cats" / "tiny.png")
    (root / "dogs" / "notes.jpg").write_text("not a photo, just text renamed to .jpg\n")
    (root / "dogs" / "readme.txt").write_text("some notes\n")
    return root


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_planted(tmp_path_factory.mktemp("doctor") / "data")


@pytest.fixture(scope="module")
def planted_report(planted: Path):
    before = _snapshot(planted)
    report = check_dataset(planted, workers=1, progress=False)
    assert _snapshot(planted) == before, "check must never modify DATA_DIR"
    return report


def test_finds_exactly_the_planted_duplicate_groups(planted_report) -> None:
    found = {
        tuple(g): k
        for g, k in zip(
            planted_report.duplicate_groups, planted_report.duplicate_kinds, strict=True
        )
    }
    assert found == {tuple(sorted(g)): k for g, k in PLANTED_GROUPS.items()}


def test_finds_exactly_the_planted_conflicts_and_problems(planted_report) -> None:
    assert planted_report.conflicts == PLANTED_CONFLICTS
    assert {p.path: p.kind for p in planted_report.problems} == PLANTED_PROBLEMS
    reasons = {p.path: p.reason for p in planted_report.problems}
    assert "truncated" in reasons["cats/truncated.jpg"]
    assert "16x16" in reasons["cats/tiny.png"]
    assert "0 bytes" in reasons["cats/empty.jpg"]
    assert "fine for notes and manifests" in reasons["labels.csv"]
    assert "move it into the folder of its class" in reasons["stray photo.jpg"]


def test_class_counts_count_each_group_once_and_leave_conflicts_out(planted_report) -> None:
    assert planted_report.classes == {"birds": 3, "cats": 31, "dogs": 30, "other": 8}
    cats = planted_report.class_info["cats"]
    assert (cats.files, cats.copies, cats.conflicting) == (35, 3, 1)
    dogs = planted_report.class_info["dogs"]
    assert (dogs.files, dogs.copies, dogs.conflicting) == (33, 2, 1)
    assert planted_report.negative_classes == ["other"]
    assert planted_report.imbalance_ratio == pytest.approx(31 / 3)


def test_fatal_names_the_small_class_and_what_to_do(planted, planted_report) -> None:
    assert len(planted_report.fatal) == 1
    message = planted_report.fatal[0]
    assert "'birds' has 3 usable images" in message and "at least 5" in message
    assert str(planted / "birds") in message
    with pytest.raises(DatasetInvalid) as raised:
        planted_report.raise_if_fatal()
    assert raised.value.code == "dataset_invalid" and raised.value.fatal == [message]
    summary = format_summary(planted_report)
    assert "NOT READY" in summary and "birds" in summary and "negative class" in summary


def test_duplicate_groups_never_cross_splits(planted_report) -> None:
    by_group: dict[str, set[str]] = {}
    for rec in planted_report.images:
        by_group.setdefault(rec.group_key, set()).add(rec.split)
    assert all(len(splits) == 1 for splits in by_group.values())
    usable = planted_report.usable_images()
    assert len(usable) == sum(planted_report.classes.values())
    assert len({r.group_key for r in usable}) == len(usable)  # one per group
    assert not any(r.conflict for r in usable)
    with_conflicts = planted_report.usable_images(include_conflicts=True)
    assert [r.path for r in with_conflicts if r.conflict] == ["cats/img_005.jpg"]
    # The representative of a resized copy is the larger original.
    small_group = next(r for r in planted_report.images if r.path == "cats/img_002 [small].jpg")
    rep = [r for r in planted_report.images if r.group == small_group.group and r.representative]
    assert [r.path for r in rep] == ["cats/img_002.jpg"]


def test_json_has_the_documented_schema(planted_report) -> None:
    data = planted_report.to_json()
    for key in ("classes", "problems", "duplicate_groups", "conflicts", "split", "fatal"):
        assert key in data
    assert data["classes"] == planted_report.classes
    assert all(set(p) >= {"path", "reason"} for p in data["problems"])
    usable_paths = {r.path for r in planted_report.images if not r.conflict}
    assert set(data["split"]) == usable_paths
    assert set(data["split"].values()) <= {"train", "val", "test"}
    assert "cats/img_005.jpg" not in data["split"]
    record = next(r for r in data["images"] if r["path"] == "cats/img_007.jpg")
    assert (
        record["sha256"]
        == hashlib.sha256((planted_report.root / "cats/img_007.jpg").read_bytes()).hexdigest()
    )
    assert (record["width"], record["height"]) == (240, 180)


def test_a_lower_minimum_makes_the_same_folder_ready(planted: Path) -> None:
    report = check_dataset(planted, min_per_class=3, workers=1, progress=False)
    assert report.ok and report.fatal == []
    assert report.cross_validation  # birds (3) and other (8) are too small to hold out
    assert any("cross-validation" in w and "'birds'" in w for w in report.warnings)
    for label in ("cats", "dogs"):
        split = report.class_info[label].split
        assert min(split.values()) >= 1 and report.class_info[label].held_out_ok
    folds = report.cross_validation_folds(k=3)
    assert set(folds) == {r.path for r in report.usable_images()}
    birds = sorted(f for p, f in folds.items() if p.startswith("birds/"))
    assert birds == [0, 1, 2]  # stratified: each fold gets one of the three birds


def test_similar_but_distinct_photos_are_not_merged(tmp_path: Path) -> None:
    # 60 scenes sharing a palette, 60 with their own: no group at all.
    palette = random_palette(5)
    for i in range(60):
        (tmp_path / "same").mkdir(exist_ok=True)
        draw_photo(7000 + i, palette=palette).save(tmp_path / "same" / f"{i}.jpg")
    write_photos(tmp_path / "own", 60, seed=8)
    report = check_dataset(tmp_path, workers=1, progress=False)
    assert report.duplicate_groups == []
    assert report.classes == {"own": 60, "same": 60}


def _split_of(report) -> dict[str, str]:
    return {r.path: r.split for r in report.images}


def test_splits_are_stable_when_photos_are_added(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_photos(root / "a", 40, seed=11)
    write_photos(root / "b", 40, seed=12)
    first = check_dataset(root, workers=1, progress=False)
    assert first.ok and not first.cross_validation and first.duplicate_groups == []
    for label in ("a", "b"):  # every class is in every split
        assert min(first.class_info[label].split.values()) >= 1
    # Add 25 photos to each class (new names) and a whole new class.
    for label, seed in (("a", 21), ("b", 22)):
        for i in range(25):
            draw_photo(seed * 100_000 + i).save(root / label / f"new_{i:02d}.jpg", quality=90)
    write_photos(root / "c", 30, seed=23)
    second = check_dataset(root, workers=1, progress=False)
    old, new = _split_of(first), _split_of(second)
    # Issue 12: splits are exactly stratified (carved by rank), so a photo may cross the
    # edge to a neighbouring split, but never between train and test, and few move.
    moved = [p for p in old if new[p] != old[p]]
    assert all({old[p], new[p]} != {"train", "test"} for p in moved), moved
    assert len(moved) <= 0.15 * len(old)
    assert len(new) == 80 + 50 + 30


def test_splits_are_exactly_stratified(tmp_path: Path) -> None:
    root = tmp_path / "data"
    sizes = {"a": 47, "b": 23, "c": 61}
    for seed, (label, n) in enumerate(sizes.items()):
        write_photos(root / label, n, seed=60 + seed)
    report = check_dataset(root, workers=1, progress=False, split=(0.7, 0.1, 0.2))
    for label, n in sizes.items():
        counts = report.class_info[label].split
        assert sum(counts.values()) == n
        for split, share in (("train", 0.7), ("val", 0.1), ("test", 0.2)):
            assert abs(counts[split] - share * n) < 1, (label, split, counts)


def test_split_depends_on_content_not_names_or_order(tmp_path: Path) -> None:
    root = tmp_path / "data"
    paths = write_photos(root / "a", 30, seed=31) + write_photos(root / "b", 30, seed=32)
    before = {r.sha256: r.split for r in check_dataset(root, workers=1, progress=False).images}
    for i, path in enumerate(paths):  # rename every file, reversing the order of names
        path.rename(path.with_name(f"zz_{len(paths) - i:03d}.jpg"))
    after = {r.sha256: r.split for r in check_dataset(root, workers=1, progress=False).images}
    assert after == before


def test_small_classes_never_get_an_empty_validation_or_test_split(tmp_path: Path) -> None:
    for label, seed in (("a", 41), ("b", 42), ("c", 43)):
        write_photos(tmp_path / label, 5, seed=seed)
    report = check_dataset(tmp_path, workers=1, progress=False)
    assert report.ok and report.cross_validation
    for info in report.class_info.values():
        assert info.split["val"] >= 1 and info.split["test"] >= 1 and info.split["train"] >= 1
        assert not info.held_out_ok
    assert "k-fold cross-validation" in format_summary(report)


def test_user_split_folders_are_respected_and_leaks_reported(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for split, count in (("train", 12), ("val", 3), ("test", 3)):
        for label, seed in (("a", 51), ("b", 52)):
            offset = {"train": 0, "val": 100, "test": 200}[split]
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                draw_photo(seed * 1000 + offset + i).save(folder / f"{i}.jpg", quality=90)
    shutil.copyfile(root / "train/a/0.jpg", root / "test/a/x.jpg")
    (root / "train" / "notes.txt").write_text("stray file in a split folder\n")
    report = check_dataset(root, workers=1, progress=False)
    assert report.ok and report.user_splits == ["train", "val", "test"]
    assert report.leaks == [["test/a/x.jpg", "train/a/0.jpg"]]
    assert [(p.path, p.kind) for p in report.problems] == [
        ("train/notes.txt", "outside_class_folder")
    ]
    assert any("leak" in w for w in report.warnings)
    for rec in report.images:
        expected = "train" if rec.path == "test/a/x.jpg" else rec.path.split("/")[0]
        assert rec.split == expected, rec.path
    assert report.classes == {"a": 18, "b": 18}
    leak_reps = [r.path for r in report.images if r.group is not None and r.representative]
    assert leak_reps == ["train/a/0.jpg"]
    assert not report.cross_validation


def test_user_split_without_val_carves_val_from_train(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for label, seed in (("a", 61), ("b", 62)):
        write_photos(root / "train" / label, 30, seed=seed)
        write_photos(root / "test" / label, 5, seed=seed + 10)
    report = check_dataset(root, workers=1, progress=False)
    assert report.ok and report.user_splits == ["train", "test"]
    for rec in report.images:
        if rec.user_split == "test":
            assert rec.split == "test"
        else:
            assert rec.split in ("train", "val")
    assert all(info.split["val"] >= 1 for info in report.class_info.values())


def test_user_split_folders_that_disagree_are_fatal(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_photos(root / "train" / "a", 6, seed=71)
    write_photos(root / "train" / "b", 6, seed=72)
    write_photos(root / "val" / "a", 6, seed=73)
    write_photos(root / "val" / "c", 6, seed=74)
    report = check_dataset(root, workers=1, progress=False)
    assert not report.ok
    assert any(
        "disagree on class names" in f and "train/ lacks c" in f and "val/ lacks b" in f
        for f in report.fatal
    )


def test_split_folders_mixed_with_class_folders_are_fatal(tmp_path: Path) -> None:
    write_photos(tmp_path / "train" / "a", 6, seed=81)
    write_photos(tmp_path / "cats", 6, seed=82)
    report = check_dataset(tmp_path, workers=1, progress=False)
    assert len(report.fatal) >= 1 and "mixes split folders" in report.fatal[0]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "No readable images"),
        (lambda root: write_photos(root / "only", 6, seed=91), "isit needs at least 2"),
    ],
)
def test_empty_or_one_class_folders_are_fatal(tmp_path: Path, setup, expected: str) -> None:
    root = tmp_path / "data"
    setup(root)
    report = check_dataset(root, workers=1, progress=False)
    assert not report.ok and any(expected in f for f in report.fatal), report.fatal


def test_exif_rotated_photo_reports_upright_size(tmp_path: Path) -> None:
    write_photos(tmp_path / "a", 5, seed=93)
    write_photos(tmp_path / "b", 5, seed=94)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    draw_photo(95, (240, 180)).save(tmp_path / "a" / "rotated.jpg", exif=exif)
    report = check_dataset(tmp_path, workers=1, progress=False)
    rec = next(r for r in report.images if r.path == "a/rotated.jpg")
    assert (rec.width, rec.height) == (180, 240)


def test_invalid_settings_raise_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train, val and test all need a share"):
        check_dataset(tmp_path, split=(1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="three numbers"):
        parse_split("80/20")
    assert parse_split("70/15/15") == pytest.approx((0.7, 0.15, 0.15))


def test_unit_hash_is_uniform_enough() -> None:
    values = np.array([unit(f"{i:064x}") for i in range(4000)])
    assert values.min() >= 0 and values.max() < 1
    assert abs(float(np.mean(values < 0.8)) - 0.8) < 0.03


def test_progress_bar_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_photos(tmp_path / "a", 5, seed=96)
    write_photos(tmp_path / "b", 5, seed=97)
    check_dataset(tmp_path, workers=1)  # stderr is not a terminal under pytest
    assert "img" not in capsys.readouterr().err
    check_dataset(tmp_path, workers=1, progress=True)
    assert "10/10" in capsys.readouterr().err


def test_parallel_and_serial_scans_agree(tmp_path: Path) -> None:
    write_photos(tmp_path / "a", 40, seed=98)
    write_photos(tmp_path / "b", 40, seed=99)
    shutil.copyfile(tmp_path / "a" / "img_001.jpg", tmp_path / "b" / "img_001 - Copy.jpg")
    serial = check_dataset(tmp_path, workers=1, progress=False).to_json()
    parallel = check_dataset(tmp_path, workers=2, progress=False).to_json()
    for key in ("classes", "problems", "duplicate_groups", "conflicts", "split", "images"):
        assert serial[key] == parallel[key]
    assert os.cpu_count()


def test_near_copies_of_many_photos_are_all_found(tmp_path: Path) -> None:
    """20 photos x (resized, re-compressed, unevenly cropped by 5%): exactly 20 groups of 4."""
    rng = np.random.default_rng(2024)
    expected = []
    for i in range(20):
        label = "a" if i % 2 else "b"
        folder = tmp_path / label
        folder.mkdir(exist_ok=True)
        original = draw_photo(9000 + i, (int(rng.integers(200, 320)), int(rng.integers(160, 240))))
        original.save(folder / f"{i}.jpg", quality=92)
        w, h = original.size
        scale = float(rng.uniform(0.4, 0.7))
        original.resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR).save(
            folder / f"{i} resized.jpg", quality=85
        )
        (folder / f"{i} q40.jpg").write_bytes(_jpeg_bytes(original, 40))
        left, top = rng.uniform(0, 0.05, 2)
        right, bottom = 0.05 - left, 0.05 - top
        original.crop(
            (round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom)))
        ).save(folder / f"{i} cropped.jpg", quality=90)
        expected.append(sorted(f"{label}/{i}{s}.jpg" for s in ("", " resized", " q40", " cropped")))
    report = check_dataset(tmp_path, workers=1, progress=False)
    assert sorted(report.duplicate_groups) == sorted(expected)
    assert report.classes == {"a": 10, "b": 10}
