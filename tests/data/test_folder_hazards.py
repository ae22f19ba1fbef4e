"""Issue 14, data folders: special files, links, odd names, bounded reads (findings 4-6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from synthetic import write_photos

from isit.display import display_path
from isit.errors import ImageTooLarge, NotARegularFile
from isit.imaging import DecodeLimits, read_image_bytes
from training.data.doctor import check_dataset

REPO = Path(__file__).resolve().parents[2]
LATIN1_NAME = os.fsdecode(b"caf\xe9.jpg")  # not UTF-8: arrives as a surrogate escape


def _within(seconds: float, fn, *args, **kwargs):
    """``fn(*args)`` in a daemon thread: a hang fails the test instead of stalling the suite."""
    done: dict[str, object] = {}

    def run() -> None:
        try:
            done["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            done["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"{fn.__name__} still running after {seconds} s"
    if "error" in done:
        raise done["error"]  # type: ignore[misc]
    return done["value"]


def _check_within(root: Path, seconds: float = 60):
    return _within(seconds, check_dataset, root, workers=1, progress=False)


def _two_classes(root: Path, n: int = 6) -> Path:
    write_photos(root / "cats", n, seed=1)
    write_photos(root / "dogs", n, seed=2)
    return root


def _kinds(report) -> dict[str, str]:
    return {p.path: p.kind for p in report.problems}


def test_fifo_and_device_are_reported_never_read(tmp_path: Path) -> None:
    root = _two_classes(tmp_path / "data")
    os.mkfifo(root / "cats" / "x.jpg")  # reading it would block forever
    os.symlink("/dev/zero", root / "dogs" / "zero.jpg")  # reading it never ends
    report = _check_within(root)
    kinds = _kinds(report)
    assert kinds["cats/x.jpg"] == "not_a_file"
    assert kinds["dogs/zero.jpg"] == "symlink_outside"
    assert report.classes == {"cats": 6, "dogs": 6}


def test_a_chain_of_links_is_judged_by_its_final_target(tmp_path: Path) -> None:
    # A link inside the folder to a link out of it: the final target counts, never opened.
    root = _two_classes(tmp_path / "data")
    os.symlink("/dev/null", root / "dev")
    os.symlink("../dev", root / "cats" / "null.jpg")
    kinds = _kinds(_check_within(root))
    assert kinds["dev"] == "symlink_outside"
    assert kinds["cats/null.jpg"] == "symlink_outside"


def test_read_image_bytes_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFile):
        _within(10, read_image_bytes, fifo)
    with pytest.raises(NotARegularFile):
        _within(10, read_image_bytes, "/dev/zero")


def test_read_is_bounded_whatever_st_size_says() -> None:
    # /proc files report st_size 0 but hold more than 10 bytes.
    assert os.stat("/proc/self/maps").st_size == 0
    with pytest.raises(ImageTooLarge):
        read_image_bytes("/proc/self/maps", limits=DecodeLimits(max_bytes=10))


def test_links_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    root = _two_classes(tmp_path / "data")
    outside = tmp_path / "elsewhere"
    write_photos(outside, 6, seed=3)
    os.symlink(outside / "img_000.jpg", root / "cats" / "stranger.jpg")
    os.symlink(outside, root / "birds")  # a class folder that is a link out
    report = _check_within(root)
    kinds = _kinds(report)
    assert kinds["cats/stranger.jpg"] == "symlink_outside"
    assert kinds["birds"] == "symlink_outside"
    assert sorted(report.classes) == ["cats", "dogs"]
    assert all(not r.path.endswith("stranger.jpg") for r in report.images)


def test_a_link_loop_is_reported_and_counts_nothing_twice(tmp_path: Path) -> None:
    root = _two_classes(tmp_path / "data")
    os.symlink(".", root / "cats" / "loop")
    os.symlink("../dogs", root / "cats" / "more")  # another way to the dogs
    os.symlink("a", root / "dogs" / "b")
    os.symlink("b", root / "dogs" / "a")  # a circle of links
    report = _check_within(root)
    kinds = _kinds(report)
    assert kinds["cats/loop"] == "symlink_loop"
    assert kinds["cats/more"] == "symlink_folder"
    assert kinds["dogs/a"] == kinds["dogs/b"] == "broken_link"
    assert report.classes == {"cats": 6, "dogs": 6}
    assert not report.duplicate_groups


def test_a_link_to_a_photo_inside_the_folder_is_read(tmp_path: Path) -> None:
    root = _two_classes(tmp_path / "data")
    os.symlink("img_000.jpg", root / "cats" / "alias.jpg")
    report = _check_within(root)
    assert "cats/alias.jpg" in {r.path for r in report.images}
    assert ["cats/alias.jpg", "cats/img_000.jpg"] in report.duplicate_groups


def test_display_path_escapes_what_cannot_be_shown() -> None:
    assert display_path(LATIN1_NAME) == "caf\\xe9.jpg"
    assert display_path(b"caf\xe9.jpg") == "caf\\xe9.jpg"
    assert display_path("new\nline\x1b[31m.jpg") == "new\\nline\\x1b[31m.jpg"
    assert display_path("gpj.\u202eexe") == "gpj.\\u202eexe"
    assert display_path("café 猫.jpg") == "café 猫.jpg"


def test_check_json_with_a_non_utf8_name_leaves_no_temp_file(tmp_path: Path) -> None:
    root = _two_classes(tmp_path / "data")
    real = os.fsencode(root / "dogs") + b"/" + os.fsencode(LATIN1_NAME)
    os.link(os.fsencode(root / "dogs" / "img_000.jpg"), real)
    os.mkdir(os.fsencode(root) + b"/bad\xffclass")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "training", "check", str(root), "--json-out", str(out / "r.json")],
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # the empty odd class is fatal, not a crash
    assert b"Traceback" not in done.stderr
    assert b"dogs/caf\\xe9.jpg" in done.stdout
    report = json.loads((out / "r.json").read_text(encoding="utf-8"))
    assert "dogs/caf\\xe9.jpg" in report["split"] or "dogs/caf\\xe9.jpg" in str(
        report["duplicate_groups"]
    )
    assert "bad\\xffclass" in report["classes"]
    assert sorted(p.name for p in out.iterdir()) == ["r.json"]
