"""The `isit` command itself: overview, --version, help with examples, exit statuses,
--json conventions and the non-clobbering default output folders. Fast: no training (the
small generated colour model stands in for a trained one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from training.cli import COMMANDS, main
from training.cli.common import free_run_dir, version

ROOT = Path(__file__).resolve().parents[2]


def isit(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`isit ARGS` as a user runs it, on this checkout's code."""
    return subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout, whatever the cwd
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def colour_folder(root: Path, per_class: int = 3) -> Path:
    """Photos the colour model knows: red_thing/, blue_thing/."""
    for label, colour in (("red_thing", (220, 20, 20)), ("blue_thing", (20, 20, 220))):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (48 + i, 40), colour).save(root / label / f"{i}.png")
    return root


def test_bare_isit_prints_the_overview_and_exits_0():
    done = isit()
    assert done.returncode == 0, done.stderr
    for name in COMMANDS:
        assert f"\n  {name} " in done.stdout
    assert "examples:" in done.stdout and "isit train data/" in done.stdout
    assert "exit status:" in done.stdout and "130" in done.stdout
    assert "--json" in done.stdout
    assert isit("--help").stdout == done.stdout


def test_version_matches_the_project(capsys):
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    assert version() == declared
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"isit {declared}"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help_ending_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: isit {command}")
    assert "exit status: 0 done, 1 failed" in text
    examples = text.rstrip().split("\nexamples:\n", 1)[1].splitlines()  # the end of the help
    assert 2 <= sum(line.strip().startswith("isit ") for line in examples) <= 3, examples


def test_bad_arguments_exit_2():
    done = isit("train")  # DATA_DIR missing
    assert done.returncode == 2 and "DATA_DIR" in done.stderr
    done = isit("trian", "data/")
    assert done.returncode == 2 and "Did you mean `isit train`?" in done.stderr
    assert isit("check", ".", "--split", "90/10").returncode == 2


def test_check_imports_no_tensorflow(tmp_path):
    code = (
        "import sys; from training.cli import main; main(['check', sys.argv[1]]); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf2onnx', 'torch')); print(heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(colour_folder(tmp_path / "d", 5))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def test_check_json_goes_to_stdout_and_json_out_to_a_file(tmp_path, capsys):
    data = colour_folder(tmp_path / "d", 5)
    report = tmp_path / "out" / "check.json"
    assert main(["check", str(data), "--json", "--json-out", str(report), "--no-progress"]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)  # stdout is only the JSON document
    assert printed["classes"] == {"blue_thing": 5, "red_thing": 5}
    assert json.loads(report.read_text("utf-8")) == printed
    assert "OK: ready to train" in captured.err  # the summary, for people


def test_predict_exits_1_when_a_file_cannot_be_read(colour_model_path, tmp_path, capsys):
    data = colour_folder(tmp_path / "photos")
    (data / "red_thing" / "notes.jpg").write_text("not a photo")
    answers = tmp_path / "answers.jsonl"
    code = main(["predict", str(colour_model_path), str(data), "--json-out", str(answers)])
    assert code == 1
    captured = capsys.readouterr()
    assert "notes.jpg: error:" in captured.err
    assert "1 of 7 files could not be read" in captured.err
    assert len(captured.out.splitlines()) == 6
    rows = [json.loads(line) for line in answers.read_text("utf-8").splitlines()]
    assert len(rows) == 7 and sum("error" in row for row in rows) == 1
    (data / "red_thing" / "notes.jpg").unlink()
    assert main(["predict", str(colour_model_path), str(data), "--json"]) == 0
    assert all(json.loads(line)["label"] for line in capsys.readouterr().out.splitlines())


def test_free_run_dir_never_reuses_a_folder(tmp_path):
    first = free_run_dir("my photos", tmp_path)
    (first / "model.onnx").write_bytes(b"earlier run")
    second = free_run_dir("my photos", tmp_path)
    third = free_run_dir("my photos", tmp_path)
    assert [p.name for p in (first, second, third)] == ["my_photos", "my_photos-2", "my_photos-3"]
    assert (first / "model.onnx").read_bytes() == b"earlier run"


def test_evaluate_writes_a_new_folder_under_runs_each_time(
    colour_model_path, tmp_path, monkeypatch, capsys
):
    data = colour_folder(tmp_path / "kept aside")
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(colour_model_path), str(data), "--no-progress"]) == 0
    assert main(["evaluate", str(colour_model_path), str(data), "--json"]) == 0
    captured = capsys.readouterr()
    runs = tmp_path / "runs" / "evaluate"
    assert sorted(p.name for p in runs.iterdir()) == ["kept_aside", "kept_aside-2"]
    for run in runs.iterdir():
        assert (run / "metrics.json").is_file() and (run / "report.html").is_file()
    assert f"report:  {Path('runs/evaluate/kept_aside/report.html')}" in captured.out
    # --json: stdout is exactly the metrics document; the summary went to stderr.
    metrics = json.loads(captured.out.split("report.html\n", 1)[1])
    assert metrics == json.loads((runs / "kept_aside-2" / "metrics.json").read_text("utf-8"))
    assert "runs/evaluate/kept_aside-2/report.html" in captured.err


def test_a_missing_model_fails_without_making_a_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(tmp_path / "nope.onnx"), str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("error: No model file")
    assert not (tmp_path / "runs").exists()


def test_train_names_the_option_in_a_bad_setting(tmp_path, capsys):
    assert main(["train", str(tmp_path), "--augment", "99"]) == 2
    assert "--augment must be between 0 and 50" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_export_errors_are_isit_errors_with_a_code():
    # Read from the source: importing the module would load TensorFlow (seconds).
    import ast

    tree = ast.parse((ROOT / "training" / "tf_convert.py").read_text("utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ExportError"]
    assert [ast.unparse(base) for base in cls.bases] == ["IsitError"]
    assert "code = 'export_failed'" in ast.unparse(cls)


NOISE = ("absl::InitializeLog", "oneDNN", "cpu_feature_guard", "TensorFlow binary is optimized")


@pytest.mark.slow
def test_train_is_quiet_and_says_what_to_do_next(tmp_path):
    from training.data.sampledata import generate

    generate(tmp_path / "shapes", per_class=10, min_side=64, max_side=120, seed=3)
    done = isit("train", "shapes", "--epochs", "20", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    for line in (done.stdout + done.stderr).splitlines():
        assert not any(noise in line for noise in NOISE), line
        assert not line.startswith(("I0000", "W0000", "E0000", "WARNING:")), line
    model = Path("runs") / "shapes" / "model.onnx"
    assert (tmp_path / model).is_file()
    tail = done.stdout.strip().splitlines()[-6:]
    assert tail[0] == "Next:"
    assert f"xdg-open {model.parent / 'report.html'}" in tail[1]
    assert f"isit serve --model {model}" in tail[2]
    assert tail[4].endswith("&& azd up") and tail[5].endswith("&& azd deploy api")
    assert "] checking the photos" not in done.stderr  # no stage lines off a terminal


@pytest.mark.slow
def test_train_names_each_stage_and_keeps_stdout_for_json(tmp_path):
    """About 25 s passed without a line between the check and the results (issue 24)."""
    import json
    import re

    from training.data.sampledata import generate
    from training.pipeline.timing import STAGE_WORDS

    generate(tmp_path / "shapes", per_class=10, min_side=64, max_side=120, seed=3)
    done = isit("train", "shapes", "--progress", "--json", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcomes"]["n"] == 30  # stdout: the JSON, whole
    lines = done.stderr.replace("\r", "\n").splitlines()
    said = [m[1] for line in lines if (m := re.match(r"\[\s*\d+\.\d s\] (.+)$", line))]
    for stage in ("check", "features", "cross-validation", "export", "heatmaps", "report"):
        assert STAGE_WORDS[stage] in said, said
    # The long stages count steps (the galleries' heatmaps come from the export's run).
    for bar in ("cross-validation:", "export:"):
        assert any(line.startswith(bar) and "%|" in line for line in lines), bar


def test_tensorflow_start_up_lines_are_dropped_and_others_kept(capfd):
    from training import tf_runtime

    lines = (
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        b"I0000 00:00:1 1 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"
        b"something a user should see\n"
    )
    with tf_runtime._captured_fd2(verbose=False):
        os.write(2, lines)
    assert capfd.readouterr().err == "something a user should see\n"
    with tf_runtime._captured_fd2(verbose=True):
        os.write(2, lines)
    assert capfd.readouterr().err == lines.decode()


def test_progress_bar_over_a_folder_only_when_asked_or_on_a_terminal(
    colour_model_path, tmp_path, capsys
):
    data = colour_folder(tmp_path / "photos", per_class=20)
    assert main(["predict", str(colour_model_path), str(data), "--progress"]) == 0
    captured = capsys.readouterr()
    assert "predicting" in captured.err and "/40 [" in captured.err
    assert len(captured.out.splitlines()) == 40  # the answers themselves stay whole lines
    assert main(["predict", str(colour_model_path), str(data)]) == 0  # not a terminal
    assert "predicting" not in capsys.readouterr().err


@pytest.mark.slow
def test_demo_trains_on_its_sample_photos(tmp_path, capsys):
    workdir = tmp_path / "demo"
    (workdir / "data" / "stale").mkdir(parents=True)  # ours: regenerated every time
    argv = ["demo", "--workdir", str(workdir), "--per-class", "8", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"Next: isit serve --model {workdir / 'model' / 'model.onnx'}" in out
    assert sorted(p.name for p in (workdir / "data").iterdir()) == [
        "circles",
        "squares",
        "triangles",
    ]
    assert (workdir / "report.html").is_file() and (workdir / "model" / "model.onnx").is_file()


def test_train_refuses_an_unknown_acceptance_out_of_range(tmp_path, capsys):
    assert main(["train", str(tmp_path), "--unknown-acceptance", "1.5"]) == 2
    assert "--unknown-acceptance must be in [0.5, 1]" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
