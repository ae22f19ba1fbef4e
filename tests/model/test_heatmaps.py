"""Where the model looked (issue 15): the heatmap output of model.onnx, its parity, the
core's explanation for one photo, and the shortcut warning."""

from __future__ import annotations

import io

import numpy as np
import onnx
import pytest
from PIL import Image, ImageDraw

from isit.bundle import ModelBundle
from training.evaluation.shortcuts import shortcut_warnings


def _maps(kind: str, n: int = 12, size: int = 7, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    maps = rng.uniform(0, 0.2, (n, size, size))
    if kind == "border":
        maps[:, 0, :] += 2
        maps[:, -1, :] += 2
        maps[:, :, 0] += 2
        maps[:, :, -1] += 2
    elif kind == "corner":
        maps[:, 0, -1] += 6
    elif kind == "centre":
        maps[:, 2:5, 2:5] += 2
    else:  # objects anywhere: one random blob per photo
        for m in maps:
            r, c = rng.integers(1, size - 1, 2)
            m[r - 1 : r + 2, c - 1 : c + 2] += 2
    return maps


def test_shortcut_rule_warns_on_borders_and_fixed_spots_only():
    warnings, found = shortcut_warnings(
        {"framed": _maps("border"), "stamped": _maps("corner"), "subject": _maps("centre")}
    )
    by_label = {f.label: f for f in found}
    assert by_label["framed"].border_share > 0.6 and by_label["subject"].border_share < 0.36
    # A frame only counts when the other classes' evidence is not on the border too.
    assert shortcut_warnings({"a": _maps("border"), "b": _maps("border", seed=2)})[0] == []
    assert len(warnings) == 2
    assert warnings[0].startswith("framed photos: the model looks mostly at the edges")
    assert "stamped photos: the model looks mostly at one spot, the top-right" in warnings[1]
    assert shortcut_warnings({"a": _maps("anywhere"), "b": _maps("anywhere", seed=1)})[0] == []
    assert shortcut_warnings({"few": _maps("border", n=3)})[0] == []  # too few photos to say


@pytest.mark.slow
def test_model_has_an_exact_heatmap_and_no_shortcut_on_clean_data(trained_model):
    graph = onnx.load(str(trained_model.model_path)).graph
    assert [o.name for o in graph.output] == ["probabilities", "ood_score", "heatmap"]
    parity = trained_model.metrics.run.parity
    assert parity["max_heatmap_diff"] <= 1e-4 and parity["max_heatmap_logit_diff"] <= 1e-4
    where = trained_model.metrics.run.where_it_looked
    assert where.available and where.warnings == ()
    assert {e.label for e in where.evidence} == set(trained_model.labels)
    html = trained_model.report_path.read_text("utf-8")
    assert "Where it looked" in html and "Check for shortcuts" not in html


def _photo(size: tuple[int, int], exif_orientation: int | None = None) -> bytes:
    img = Image.new("RGB", size, (200, 60, 60))
    ImageDraw.Draw(img).ellipse((10, 10, size[0] // 2, size[1] // 2), fill=(30, 30, 200))
    buffer = io.BytesIO()
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        img.save(buffer, "JPEG", exif=exif)
    else:
        img.save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.slow
def test_explain_gives_a_normalised_grid_and_the_crop_in_upload_pixels(trained_model):
    bundle = ModelBundle(trained_model.model_path)
    assert bundle.has_heatmap
    prediction, heatmap = bundle.explain(_photo((640, 480)))
    assert heatmap.label == prediction.best_guess
    assert heatmap.grid.shape == (7, 7)
    assert heatmap.grid.min() == 0.0 and heatmap.grid.max() == 1.0
    assert heatmap.crop.to_dict() == {"x": 80, "y": 0, "width": 480, "height": 480}
    assert prediction == bundle.predict(_photo((640, 480)))  # explaining changes nothing
    # Stored 640x480 but EXIF says "rotate 90": the upload is upright 480x640.
    _, turned = bundle.explain(_photo((640, 480), exif_orientation=6))
    assert turned.crop.to_dict() == {"x": 0, "y": 80, "width": 480, "height": 480}
    body = heatmap.to_dict()
    assert body["heatmap"]["rows"] == 7 and len(body["heatmap"]["grid"]) == 7


def stamped_dataset(root, per_class: int = 24, seed: int = 0):
    """Two classes with the same random content; only "stamped" has a logo in its corner
    (a channel's bug, a watermark): a shortcut a frozen backbone picks up at once."""
    rng = np.random.default_rng(seed)
    for label in ("stamped", "plain"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            side = int(rng.integers(96, 140))
            img = Image.fromarray(rng.integers(60, 200, (side, side, 3), dtype=np.uint8))
            draw = ImageDraw.Draw(img)
            for _ in range(3):
                x, y = rng.integers(10, side - 30, 2)
                colour = tuple(int(v) for v in rng.integers(0, 255, 3))
                draw.rectangle((x, y, x + 20, y + 20), fill=colour)
            if label == "stamped":
                logo = int(side * 0.18)
                draw.rectangle((side - logo, 0, side, logo), fill=(255, 255, 255))
                draw.text((side - logo + 2, logo // 3), "TV", fill=(200, 0, 0))
            img.save(root / label / f"{label}_{i:02d}.png")
    return root


@pytest.mark.slow
def test_a_class_learnt_from_a_corner_logo_gets_a_warning(tmp_path, capsys):
    import json

    from training.cli import main

    data = stamped_dataset(tmp_path / "stamped")
    out = tmp_path / "out"
    assert main(["train", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "warning: stamped photos: the model looks mostly at" in printed.out
    assert "warning: plain photos" not in printed.out
    classes = json.loads((out / "metrics.json").read_text("utf-8"))["where_it_looked"]["classes"]
    assert classes["stamped"]["spot_where"] == "top-right corner"
    assert classes["stamped"]["spot_share"] > 2 * classes["plain"]["spot_share"]
    assert "Check for shortcuts" in (out / "report.html").read_text("utf-8")
