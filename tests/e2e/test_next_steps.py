"""The "Next:" lines after `isit train` run as printed (issue 24)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from training.cli.next_steps import PROJECT_ROOT, next_lines


def copy_line(lines: list[str], which: str) -> str:
    """The printed deploy line, minus the `azd` part (no Azure here)."""
    line = next(line for line in lines if line.strip().startswith(which))
    command = line.split(":", 1)[1].strip()
    head, azd = command.rsplit(" && ", 1)
    assert azd in ("azd up", "azd deploy api")
    return head


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clone = tmp_path / "clone with space"
    subprocess.run(["git", "clone", "-q", str(PROJECT_ROOT), str(clone)], check=True)
    assert not (clone / "model").exists()  # what a user has before a first deployment
    return clone


@pytest.mark.parametrize("where", ["root", "elsewhere"])
def test_the_printed_copy_line_puts_the_model_where_the_function_reads_it(
    fresh_clone, tmp_path, colour_model_path, where
):
    cwd = fresh_clone if where == "root" else tmp_path / "elsewhere"
    run = cwd / "runs" / "my photos"
    run.mkdir(parents=True)
    shutil.copyfile(colour_model_path, run / "model.onnx")
    relative = Path("runs") / "my photos" / "model.onnx"
    lines = next_lines(run / "report.html", relative, cwd=cwd, root=fresh_clone, platform="linux")
    for which in ("the first time", "afterwards"):
        subprocess.run(["bash", "-c", copy_line(lines, which)], cwd=cwd, check=True)
        copied = fresh_clone / "model" / "model.onnx"
        assert copied.read_bytes() == colour_model_path.read_bytes()


def test_a_first_deployment_is_azd_up_and_later_ones_deploy_the_api():
    lines = next_lines(Path("r/report.html"), Path("r/model.onnx"), cwd=PROJECT_ROOT)
    first = next(line for line in lines if "the first time" in line)
    later = next(line for line in lines if "afterwards" in line)
    assert first.endswith("&& azd up") and later.endswith("&& azd deploy api")


@pytest.mark.parametrize(
    ("platform", "opener"),
    [("linux", "xdg-open r/report.html"), ("darwin", "open r/report.html"),
     ("win32", 'start "" r/report.html')],
)
def test_the_report_opens_with_the_systems_own_command(platform, opener):
    lines = next_lines(Path("r/report.html"), Path("r/model.onnx"), cwd=PROJECT_ROOT,
                       platform=platform)
    assert lines[1].endswith(opener)


def test_windows_lines_use_cmd_words():
    lines = next_lines(Path("r/report.html"), Path("my runs/model.onnx"), cwd=PROJECT_ROOT,
                       platform="win32")
    first = next(line for line in lines if "the first time" in line)
    assert "(if not exist model mkdir model) && copy /Y" in first
    assert '"my runs/model.onnx" model\\model.onnx' in first
    assert "mkdir -p" not in first and " cp " not in first
