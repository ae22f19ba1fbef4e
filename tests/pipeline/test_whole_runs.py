"""Issues 26 and 24: a run's folder is whole or absent, an earlier run is never replaced
unasked, dead runs' leftovers are swept, and disk problems are one line. Fast: the small
colour model stands in for a trained one; no training here (see tests/e2e/test_train.py)."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from training import outputs
from training.atomic import atomic_write
from training.cli import main
from training.evaluation import report as report_module
from training.leftovers import incomplete_name, sweep_incomplete, sweep_temp_files
from training.outputs import (
    EVALUATE_FILES,
    TRAIN_FILES,
    OutputNotWritable,
    RunExists,
    staged_outputs,
)

ROOT = Path(__file__).resolve().parents[2]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones too) and the sha256 of its bytes."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def earlier_run(folder: Path, files=TRAIN_FILES) -> Path:
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text(f"the earlier run's {name}")
    return folder


def colour_folder(root: Path, per_class: int = 3) -> Path:
    colours = {"red_thing": (200, 30, 30), "blue_thing": (30, 30, 200)}
    for label, rgb in colours.items():
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (64 + i, 64), rgb).save(root / label / f"{i}.png")
    return root


# ---------------------------------------------------------------- whole or absent
def test_files_appear_together_when_the_run_ends(tmp_path):
    target = tmp_path / "runs" / "data"
    with staged_outputs(target, TRAIN_FILES) as staging:
        for name in TRAIN_FILES:
            atomic_write(staging / name, name)
            assert not target.exists()  # nothing shows before the end
        assert staging.parent == target.parent and staging.name.startswith(".isit-incomplete-")
    assert {p.name: p.read_text() for p in target.iterdir()} == {n: n for n in TRAIN_FILES}
    assert sorted(os.listdir(target.parent)) == ["data"]  # no staging folder left


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_run_changes_nothing(tmp_path, error):
    """Ctrl+C (or any failure) after model.onnx was written: the earlier run stays whole,
    not a new model.onnx beside the old metrics.json and report.html."""
    target = earlier_run(tmp_path / "run")
    before = snapshot(target)
    with pytest.raises(error), staged_outputs(target, TRAIN_FILES, force=True) as staging:
        atomic_write(staging / "model.onnx", b"new model")
        raise error()
    assert snapshot(target) == before
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_an_earlier_run_is_refused_unless_forced(tmp_path):
    target = earlier_run(tmp_path / "run")
    (target / "notes.txt").write_text("mine")
    before = snapshot(target)
    with pytest.raises(RunExists, match="--force"), staged_outputs(target, TRAIN_FILES):
        pytest.fail("refused before any work")
    assert snapshot(target) == before
    with staged_outputs(target, TRAIN_FILES, force=True) as staging:
        for name in TRAIN_FILES:
            atomic_write(staging / name, f"new {name}")
    assert (target / "metrics.json").read_text() == "new metrics.json"
    assert (target / "notes.txt").read_text() == "mine"  # not the run's: kept


# ---------------------------------------------------------------- leftovers of killed runs
KILLED = """
import os, signal, sys
from pathlib import Path
from training.atomic import atomic_write_with
from training.outputs import staged_outputs

target, cache = Path(sys.argv[1]), Path(sys.argv[2])

def die(handle):
    handle.write(b"x" * 1_000_000)
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9, half-way through writing

atomic_write_with(cache / "features" / "ab" / "abc.feat", lambda h: h.write(b"done"))
with staged_outputs(target, ("model.onnx",)) as staging:
    atomic_write_with(staging / "report.html", lambda h: h.write(b"<html>"))
    atomic_write_with(cache / "features" / "ab" / "abd.feat", die)
"""


def test_what_a_killed_run_left_is_swept_by_the_next(tmp_path):
    target, cache = tmp_path / "runs" / "data", tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED), str(target), str(cache)],
        env=env,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL
    staging = target.parent / incomplete_name("data", _dead_pid(target))
    left_temp = list(cache.rglob(".*.tmp"))
    assert staging.is_dir() and len(left_temp) == 1 and not target.exists()
    # A live writer's files are never touched: ours, with this pid.
    live = target.parent / incomplete_name("other")
    live.mkdir()
    (cache / f".x.feat.isit-{os.getpid()}.abcdefgh.tmp").write_bytes(b"being written")
    assert sweep_incomplete(target.parent) == [staging]
    assert sweep_temp_files(cache, recursive=True) == left_temp
    assert live.is_dir() and (cache / f".x.feat.isit-{os.getpid()}.abcdefgh.tmp").exists()
    assert (cache / "features" / "ab" / "abc.feat").read_bytes() == b"done"


def _dead_pid(target: Path) -> int:
    """The pid in the one staging folder the killed process left."""
    (found,) = [p for p in target.parent.iterdir() if p.name.startswith(".isit-incomplete-")]
    return int(found.name.rsplit("-", 1)[1])


def test_old_unnamed_temp_files_go_only_from_the_cache_and_only_when_old(tmp_path):
    old, recent = tmp_path / ".abc.npy.k2j4h1x_.tmp", tmp_path / ".abd.npy.p0q9r8s7.tmp"
    for path in (old, recent):
        path.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert sweep_temp_files(tmp_path) == []  # outside the cache: isit never guesses
    assert sweep_temp_files(tmp_path, legacy=("metrics.json",)) == []  # not a run's file
    assert sweep_temp_files(tmp_path, legacy=True) == [old]
    assert recent.exists()
    # In a run folder: an older version's half-written model.onnx of a killed run.
    half = tmp_path / ".model.onnx.a1b2c3d4.tmp"
    half.write_bytes(b"x" * 1000)
    os.utime(half, (time.time() - 7200, time.time() - 7200))
    assert sweep_temp_files(tmp_path, legacy=TRAIN_FILES) == [half]


# ---------------------------------------------------------------- disks
def test_an_output_folder_under_a_file_fails_up_front(tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("x")  # as root, chmod changes nothing; a file in the way does
    with pytest.raises(OutputNotWritable) as raised, staged_outputs(blocker / "run", TRAIN_FILES):
        pytest.fail("refused before any work")
    assert raised.value.message == (
        f"cannot write the results to {blocker / 'run'} ({blocker} is a file, not a folder): "
        "choose a folder you can write to with --out."
    )


def test_too_little_free_space_fails_up_front(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda _: SimpleNamespace(free=2**20))
    expected = r"only 1 MB free on that disk, \d+ MB needed\. Free some space"
    with pytest.raises(OutputNotWritable, match=expected), staged_outputs(tmp_path / "run", ()):
        pytest.fail("refused before any work")
    assert os.listdir(tmp_path) == []


def test_a_full_disk_while_writing_is_one_line_and_changes_nothing(
    colour_model_path, tmp_path, monkeypatch, capsys
):
    data = colour_folder(tmp_path / "kept")
    out = earlier_run(tmp_path / "eval", EVALUATE_FILES)
    before = snapshot(out)

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")  # as write() raises it

    monkeypatch.setattr(report_module, "atomic_write", full_disk)
    argv = ["evaluate", str(colour_model_path), str(data), "--out", str(out), "--force"]
    assert main([*argv, "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: cannot write the results to {out} (the disk is full): free some space on "
        "that disk, or choose another folder with --out."
    ]
    assert snapshot(out) == before and sorted(os.listdir(tmp_path)) == ["eval", "kept"]


# ---------------------------------------------------------------- the command line
def test_evaluate_out_onto_an_earlier_run_leaves_it_byte_identical(
    colour_model_path, tmp_path, capsys
):
    data = colour_folder(tmp_path / "kept")
    out = tmp_path / "eval"
    argv = ["evaluate", str(colour_model_path), str(data), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    before = snapshot(out)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out} already holds a run") and "--force" in err
    assert snapshot(out) == before
    assert main([*argv, "--force"]) == 0
    assert snapshot(out).keys() == before.keys()


def test_train_out_onto_an_earlier_run_is_refused_before_any_work(tmp_path, capsys):
    from training.data.sampledata import generate

    data = tmp_path / "data"
    generate(data, per_class=6)
    out = earlier_run(tmp_path / "model")
    before = snapshot(out)
    start = time.perf_counter()
    assert main(["train", str(data), "--out", str(out), "--no-progress"]) == 2
    assert time.perf_counter() - start < 10  # no check, no backbone, no training
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[0] and str(out) in err[0]
    assert snapshot(out) == before


def test_train_into_an_unwritable_place_fails_before_any_work(tmp_path, capsys):
    from training.data.sampledata import generate

    data = tmp_path / "data"
    generate(data, per_class=6)
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    start = time.perf_counter()
    assert main(["train", str(data), "--out", str(blocker / "data"), "--no-progress"]) == 1
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot write the results to {blocker}")
