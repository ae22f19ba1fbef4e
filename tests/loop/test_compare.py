"""`isit compare`: matching by content, McNemar's exact test, and (slow) two real `train`
runs, the second with photos planted in the wrong class folder: compare reports them."""

from __future__ import annotations

import csv
import shutil

import modelgen
import pytest

from training.cli import main
from training.loop.comparison import compare_rows, mcnemar_exact
from training.loop.run_photos import HELD_OUT_NAME, PhotoRow, read_held_out


def _row(n: int, outcome: str, label: str = "cat", path: str | None = None) -> PhotoRow:
    answer = label if outcome == "right" else "unknown" if outcome == "not sure" else "dog"
    return PhotoRow(path or f"{label}/{n}.jpg", f"{n:064x}", label, answer, outcome)


def test_mcnemar_exact_matches_the_binomial_by_hand():
    # 0 vs 10 discordant pairs: 2 * 0.5**10.
    assert mcnemar_exact(0, 10) == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 1) == mcnemar_exact(1, 3)


def test_photos_are_matched_by_content_and_relabelled_ones_set_apart():
    a = [_row(n, "right" if n < 20 else "wrong") for n in range(30)]
    # B: the same photos renamed; 10 wrong ones now right; photo 0 moved to 'dog'; 1 new.
    b = [_row(n, "right" if n < 30 else "wrong", path=f"renamed/{n}.jpg") for n in range(1, 30)] + [
        _row(0, "wrong", label="dog"),
        _row(99, "right"),
    ]
    c = compare_rows("A", a, "B", b)
    assert (c.added, c.removed) == (1, 0)
    assert [p.a.path for p in c.relabelled] == ["cat/0.jpg"]
    assert len(c.same) == 29
    assert (c.only_a_right, c.only_b_right) == (0, 10)
    assert c.beyond_noise and "B is better, more than noise" in c.verdict()
    assert c.outcomes("a").right.k == 19 and c.outcomes("b").right.k == 29
    assert len(c.answer_changed) == 10
    # Two flips either way: noise.
    b2 = [_row(n, "wrong" if n in (0, 1) else "right" if n < 22 else "wrong") for n in range(30)]
    assert "within noise" in compare_rows("A", a, "B", b2).verdict()


def test_compare_two_models_on_a_folder(tmp_path, capsys):
    model_a = modelgen.write_model(tmp_path / "a" / "model.onnx")
    # B knows only red and blue: green photos are answered red or blue (or unknown).
    model_b = modelgen.write_model(
        tmp_path / "b" / "model.onnx", labels=("red_thing", "blue_thing")
    )
    folder = tmp_path / "kept"
    for label, colour in (("red_thing", "red"), ("blue_thing", "blue")):
        (folder / label).mkdir(parents=True)
        for n in range(4):
            (folder / label / f"{n}.jpg").write_bytes(modelgen.photo(colour, seed=n))
    out = tmp_path / "cmp"
    status = main(
        ["compare", str(model_a), str(model_b), "--folder", str(folder), "--out", str(out)]
    )
    assert status == 0
    text = capsys.readouterr().out
    assert "on the 8 photos both held out" in text and "no difference" in text
    assert "right on 8 of 8" in text
    assert (out / "compare.html").read_text(encoding="utf-8").count("<h2>") == 2
    # A folder with a class model B does not know is an error, not a guess.
    (folder / "green_thing").mkdir()
    (folder / "green_thing" / "g.jpg").write_bytes(modelgen.photo("green"))
    status = main(["compare", str(model_a), str(model_b), "--folder", str(folder)])
    assert status == 1 and "does not know the classes green_thing" in capsys.readouterr().err


def test_a_folder_without_held_out_csv_says_what_to_do(tmp_path, capsys):
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    assert main(["compare", str(tmp_path / "old"), str(tmp_path / "new")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "held_out.csv" in err and "Train it again" in err


PLANTED = 4  # circles moved into squares/ for the second run


@pytest.mark.slow
def test_compare_two_train_runs_reports_the_planted_change(tmp_path, monkeypatch, capsys):
    from training.data.sampledata import generate

    data = generate(tmp_path / "shapes", per_class=14, min_side=64, max_side=128, seed=3)
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(data), "--no-progress"]) == 0
    first = tmp_path / "runs" / "shapes"
    rows = read_held_out(first)
    assert {r.outcome for r in rows} <= {"right", "wrong", "not sure", "trained on"}
    assert any(r.held_out for r in rows) and all(len(r.sha256) == 64 for r in rows)
    moved = sorted((data / "circles").iterdir())[:PLANTED]
    for photo in moved:  # the planted change: circles filed as squares
        shutil.move(photo, data / "squares" / photo.name)
    assert main(["train", str(data), "--no-progress"]) == 0
    second = tmp_path / "runs" / "shapes-2"
    capsys.readouterr()
    assert main(["compare", str(first), str(second)]) == 0
    text = capsys.readouterr().out
    assert f"{PLANTED} under another label" in text
    assert f"{PLANTED} photos have another label in shapes-2:" in text
    for photo in moved:
        assert f"squares/{photo.name} [circles -> squares]" in text
    with open(tmp_path / "runs" / "compare" / "shapes-vs-shapes-2" / "changes.csv") as handle:
        changes = list(csv.DictReader(handle))
    relabelled = [c for c in changes if c["label_a"] != c["label_b"]]
    assert len(relabelled) == PLANTED
    # Held out as squares, a circle is answered "circles": wrong in the second run.
    assert sum(c["outcome_b"] in ("wrong", "not sure") for c in relabelled) >= PLANTED - 1
    assert (second / HELD_OUT_NAME).is_file() and (second / "metrics.json").is_file()
