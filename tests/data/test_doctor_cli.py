"""`isit check` as a user runs it: a real subprocess, real files, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from synthetic import write_photos

REPO = Path(__file__).resolve().parents[2]


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training", "check", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_writes_the_json_report_and_exits_zero(tmp_path: Path) -> None:
    data = tmp_path / "my photos"
    write_photos(data / "darth vader", 40, seed=1)
    write_photos(data / "elsa", 36, seed=2)
    shutil.copyfile(data / "elsa" / "img_003.jpg", data / "elsa" / "img_003 - Copy.jpg")
    (data / "elsa" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    report_path = tmp_path / "out" / "report.json"
    # 78 files: enough for the process pool (--workers 2) to be used.
    done = _check(str(data), "--json-out", str(report_path), "--workers", "2", "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: ready to train" in done.stdout
    assert "elsa/img_003 - Copy.jpg" in done.stdout
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["classes"] == {"darth vader": 40, "elsa": 36}
    assert report["duplicate_groups"] == [["elsa/img_003 - Copy.jpg", "elsa/img_003.jpg"]]
    assert report["conflicts"] == []
    assert [p["path"] for p in report["problems"]] == ["elsa/broken.jpg"]
    assert report["fatal"] == []
    assert len(report["split"]) == 77
    assert report["split"]["elsa/img_003.jpg"] == report["split"]["elsa/img_003 - Copy.jpg"]
    assert set(report["split"].values()) == {"train", "val", "test"}
    assert done.stderr == ""  # no progress bar when not on a terminal


def test_cli_exits_non_zero_with_what_to_do(tmp_path: Path) -> None:
    write_photos(tmp_path / "cats", 6, seed=3)
    write_photos(tmp_path / "dogs", 2, seed=4)
    report_path = tmp_path / "report.json"
    done = _check(str(tmp_path), "--json-out", str(report_path))
    assert done.returncode == 1
    assert "NOT READY" in done.stdout
    assert "Class 'dogs' has 2 usable images; at least 5 are needed" in done.stdout
    assert json.loads(report_path.read_text())["fatal"] != []
    assert _check(str(tmp_path), "--min-per-class", "2").returncode == 0


def test_cli_rejects_a_bad_split_option(tmp_path: Path) -> None:
    done = _check(str(tmp_path), "--split", "90/10")
    assert done.returncode == 2
    assert "give three numbers train/val/test" in done.stderr
