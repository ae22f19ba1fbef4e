"""`isit evaluate` on a separate labelled folder."""

from __future__ import annotations

import json

import pytest

from training.cli import main
from training.data.sampledata import generate

pytestmark = pytest.mark.slow


def test_evaluate_a_new_folder(trained_model_path, tmp_path, capsys):
    # New photos the model never saw (another seed), one class missing, one copy.
    data = generate(tmp_path / "fresh", per_class=8, classes=("circles", "squares"), seed=99)
    first = next((data / "circles").iterdir())
    (data / "circles" / f"copy of {first.name}").write_bytes(first.read_bytes())
    out = tmp_path / "eval"
    assert main(["evaluate", str(trained_model_path), str(data), "--out", str(out)]) == 0
    assert "accuracy" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    assert metrics["best_guess"]["n"] == 16  # the copy counts once
    assert metrics["best_guess"]["accuracy"] >= 0.85
    assert metrics["best_guess"]["per_class"]["triangles"]["n"] == 0
    assert any("triangles" in w for w in metrics["warnings"])
    assert any("identical" in w for w in metrics["warnings"])
    assert metrics["unknown"]["probe_rejected"] >= 0.8
    html = (out / "report.html").read_text("utf-8")
    assert "16</b> held-out" in html and "Most confidently wrong" in html


def test_labels_unknown_to_the_model_are_named(trained_model_path, tmp_path, capsys):
    data = generate(tmp_path / "d", per_class=3, classes=("circles",), seed=5)
    for name in ("dogs", "cats"):
        (data / name).mkdir()
        (data / name / "x.png").write_bytes((next((data / "circles").iterdir())).read_bytes())
    out = tmp_path / "eval"
    assert main(["evaluate", str(trained_model_path), str(data), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "'cats', 'dogs'" in err and "circles" in err
    assert not out.exists()
