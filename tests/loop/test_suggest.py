"""`isit suggest`: planted confusing photos (half one class's colour, half another's) come
first, a near-copy of a photo already listed is never listed, the folder is left as it was."""

from __future__ import annotations

import csv
import io

import modelgen
import numpy as np
import pytest
from PIL import Image

from training.cli import main


def half_and_half(left: str, right: str, seed: int) -> bytes:
    """A photo whose left half is one class's colour and right half another's."""
    rng = np.random.default_rng(seed)
    pixels = np.empty((200, 240, 3), np.int16)
    pixels[:, :120] = modelgen.COLOURS[left]
    pixels[:, 120:] = modelgen.COLOURS[right]
    pixels += rng.integers(-12, 13, size=pixels.shape, dtype=np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def unlabelled(tmp_path):
    folder = tmp_path / "unlabelled"
    (folder / "sub").mkdir(parents=True)
    for n, colour in enumerate(["red", "blue", "green"] * 4):
        (folder / f"{colour}-{n}.jpg").write_bytes(modelgen.photo(colour, seed=100 + n))
    for n in range(3):  # three near-copies of one confusing photo
        (folder / f"sub/red-blue-{n}.png").write_bytes(half_and_half("red", "blue", seed=n))
    (folder / "blue-green.png").write_bytes(half_and_half("blue", "green", seed=9))
    (folder / "broken.jpg").write_bytes(b"not a photo")
    return folder


def _snapshot(folder) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_confusing_photos_first_and_no_near_copy_twice(
    colour_model_path, unlabelled, tmp_path, monkeypatch, capsys
):
    before = _snapshot(unlabelled)
    monkeypatch.chdir(tmp_path)
    status = main(["suggest", str(colour_model_path), str(unlabelled), "--top", "6"])
    assert status == 1  # broken.jpg could not be read: listed, the rest ranked
    out = capsys.readouterr().out
    assert "broken.jpg" in out
    run = tmp_path / "runs" / "suggest" / "unlabelled"
    with open(run / "suggest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["rank", "path", "best_guess", "confidence", "ood_score", "why"]
    paths = [row["path"] for row in rows]
    # The two confusing photos first (which of the three near-copies does not matter)...
    assert any("blue-green.png" in p for p in paths[:2]) and any(
        "red-blue-" in p for p in paths[:2]
    )
    assert "torn between" in rows[0]["why"] and "torn between" in rows[1]["why"]
    # ...each near-copy group once: one red-blue blend, then one photo of each colour.
    assert sum("red-blue-" in p for p in paths) == 1
    assert len(rows) == 5 and [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5]
    plain = sorted(p.rsplit("/", 1)[-1].split("-")[0] for p in paths[2:])
    assert plain == ["blue", "green", "red"]
    assert float(rows[-1]["confidence"]) > float(rows[0]["confidence"])
    page = (run / "suggest.html").read_text(encoding="utf-8")
    assert page.count("data:image/jpeg;base64,") == 5 and "torn between" in page
    assert _snapshot(unlabelled) == before  # FOLDER only read
    # Again: a new folder, the first one kept.
    main(["suggest", str(colour_model_path), str(unlabelled), "--top", "2"])
    assert (tmp_path / "runs" / "suggest" / "unlabelled-2" / "suggest.csv").is_file()
    assert (run / "suggest.csv").read_text(encoding="utf-8").count("\n") == 6


def test_out_inside_the_folder_is_refused(colour_model_path, unlabelled, capsys):
    status = main(
        ["suggest", str(colour_model_path), str(unlabelled), "--out", str(unlabelled / "x")]
    )
    assert status == 2
    assert "inside the folder" in capsys.readouterr().err
    assert not (unlabelled / "x").exists()
