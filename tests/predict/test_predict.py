"""`isit predict` on the trained sample model: text, JSON, --copy-to."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from training.cli import main
from training.model.unknown import probe_images

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# An answer with its score; "unknown" with how unlike and a guess, never a score (issue 24).
LINE = re.compile(
    r"^(?P<path>.+): (?:(?P<label>\w+) \(score = (?P<score>[01]\.\d{5})\)|"
    r"(?P<unknown>unknown) \((?P<unlike>a little|quite|very) unlike the photos it learnt "
    r"from; only a guess: (?P<guess>\w+)\))$"
)


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _unrelated(tmp_path: Path) -> list[Path]:
    """Real photos nobody's class (cat, coffee, astronaut, Chinese temple, flower)."""
    wanted = {"skimage:chelsea.png", "skimage:coffee.png", "skimage:astronaut.png",
              "sklearn:china.jpg", "sklearn:flower.jpg"}  # fmt: skip
    paths = []
    for name, data in probe_images():
        if name in wanted:
            path = tmp_path / name.split(":")[1]
            path.write_bytes(data)
            paths.append(path)
    assert len(paths) == len(wanted)
    return paths


def test_text_lines_like_the_classic_guess_script(trained_model_path, sample_dataset_dir, capsys):
    folder = sample_dataset_dir / "squares"
    assert main(["predict", str(trained_model_path), str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(list(folder.iterdir()))
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    answers = [m["label"] or m["unknown"] for m in matches]
    assert answers.count("squares") >= 0.8 * len(answers)
    # Odd names are printed as they are.
    printed = {Path(m["path"]).stem for m in matches}
    assert {"my photo 0", "café ünïcode 1", "[draft] shape (#2)", "写真 3"} <= printed


def test_unrelated_photos_are_unknown_with_a_best_guess(trained_model_path, tmp_path, capsys):
    paths = _unrelated(tmp_path)
    assert main(["predict", str(trained_model_path), *map(str, paths)]) == 0
    lines = capsys.readouterr().out.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    unknown = [m for m in matches if m["unknown"]]
    assert len(unknown) >= 4, lines
    assert all(m["guess"] in ("circles", "squares", "triangles") for m in unknown)
    assert not any("score" in line for line in lines if "unknown" in line)


def test_json_lines(trained_model_path, sample_dataset_dir, tmp_path, capsys):
    image = (
        sample_dataset_dir
        / "circles"
        / next(p.name for p in (sample_dataset_dir / "circles").iterdir() if p.stem == "my photo 0")
    )
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code = main(["predict", str(trained_model_path), str(image), str(broken), "--json"])
    assert code == 1  # a file could not be read
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2
    good, bad = rows
    assert good["path"] == str(image)
    assert good["label"] == "circles" and good["unknown"] is False
    assert 0.5 < good["confidence"] <= 1.0
    assert good["scores"][0]["label"] == "circles"
    assert sum(s["score"] for s in good["scores"]) == pytest.approx(1.0, abs=1e-4)
    assert bad["path"] == str(broken) and bad["code"] and "label" not in bad


def test_copy_to_copies_never_moves_and_lists_unreadable(
    trained_model_path, sample_dataset_dir, tmp_path, capsys
):
    source = tmp_path / "photos"
    source.mkdir()
    for label in ("circles", "triangles"):
        for path in sorted((sample_dataset_dir / label).iterdir())[:4]:
            (source / f"{label}-{path.name}").write_bytes(path.read_bytes())
    for path in _unrelated(tmp_path)[:2]:
        path.rename(source / path.name)
    (source / "notes.txt").write_text("not a photo")
    before = _tree_hashes(source)
    out = tmp_path / "sorted"

    # notes.txt cannot be read: listed, the others still copied, exit status 1.
    assert main(["predict", str(trained_model_path), str(source), "--copy-to", str(out)]) == 1
    captured = capsys.readouterr()
    assert "notes.txt" in captured.err  # listed, not fatal
    assert _tree_hashes(source) == before  # sources untouched
    with open(out / "predictions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(before)
    for row in rows:
        if row["error"]:
            assert row["path"].endswith("notes.txt") and not row["copied_to"]
            continue
        copied = Path(row["copied_to"])
        assert copied.parent == out / row["label"]
        original = Path(row["path"])
        assert copied.read_bytes() == original.read_bytes()
        if row["unknown"] == "true":
            assert row["label"] == "unknown"
    labels = {row["label"] for row in rows if not row["error"]}
    assert {"circles", "triangles"} <= labels

    # Again into the same folder: nothing is overwritten, copies get new names.
    first = _tree_hashes(out)
    assert main(["predict", str(trained_model_path), str(source), "--copy-to", str(out)]) == 1
    second = _tree_hashes(out)
    for name, digest in first.items():
        if name != "predictions.csv":
            assert second[name] == digest
    assert any(" (1)" in name for name in second)


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope.onnx"), str(tmp_path)]) == 1
    assert "No model file" in capsys.readouterr().err


def test_module_entry_point(trained_model_path, sample_dataset_dir):
    image = next((sample_dataset_dir / "triangles").glob("triangles_0*"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "training", "predict", str(trained_model_path), str(image)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert LINE.match(done.stdout.strip())
    assert done.stdout.startswith(f"{image}: ")
