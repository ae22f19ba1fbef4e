"""`isit feedback review`: one self-contained page, each inbox photo with the model's answer
now, the claimed label and the nearest training photos of both classes; nothing moved."""

from __future__ import annotations

import re

import modelgen
from feedback_helpers import feedback_form, reset_feedback_state
from function_helpers import SETTINGS

from training.cli import main


def _flag(tmp_path, model_path, monkeypatch) -> tuple:
    """Two photos flagged into a folder store (through the Function), pulled into an inbox."""
    from function_helpers import call

    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_PATH", str(model_path))
    monkeypatch.setenv("FEEDBACK_STORAGE", f"file:{tmp_path / 'store'}")
    reset_feedback_state()
    for photo, label in (
        (modelgen.photo("red", seed=5), "blue_thing"),
        (modelgen.photo("green", seed=6), "green_thing"),
    ):
        body, ctype = feedback_form(photo, label, answer="red_thing", model_version="v-3")
        assert call("feedback", body=body, headers={"Content-Type": ctype}).status == 202
    reset_feedback_state()
    inbox = tmp_path / "inbox"
    assert main(["feedback", "pull", str(tmp_path / "store"), "--out", str(inbox)]) == 0
    return inbox


def test_review_page(colour_model_path, tmp_path, monkeypatch, capsys):
    inbox = _flag(tmp_path, colour_model_path, monkeypatch)
    (inbox / "blue_thing" / "<b>odd.png").write_bytes(modelgen.photo("blue", fmt="PNG", seed=8))
    data = tmp_path / "data"
    for label, colour in (("red_thing", "red"), ("blue_thing", "blue"), ("green_thing", "green")):
        (data / label).mkdir(parents=True)
        for n in range(6):
            (data / label / f"{colour}-{n}.jpg").write_bytes(modelgen.photo(colour, seed=50 + n))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    args = [
        "feedback",
        "review",
        str(inbox),
        "--model",
        str(colour_model_path),
        "--data",
        str(data),
    ]
    assert main(args) == 0
    assert "3 photos on" in capsys.readouterr().out
    page = (inbox / "review.html").read_text(encoding="utf-8")
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert [p for p in after if p not in before] == [(inbox / "review.html").relative_to(tmp_path)]
    # Self-contained: thumbnails inlined, no file or http references.
    assert "src='data:image/jpeg;base64," in page and not re.search(r"src=['\"](?!data:)", page)
    assert "&lt;b&gt;odd.png" in page and "<b>odd.png" not in page
    sections = page.split("<section")[1:]
    assert len(sections) == 3
    red_claimed_blue = next(
        s for s in sections if "claimed: <b>blue_thing</b>" in s and "odd" not in s
    )
    assert (
        "model now: <b>red_thing</b>" in red_claimed_blue
        and "differs from the claim" in red_claimed_blue
    )
    assert "then: red_thing (model v-3)" in red_claimed_blue
    # The nearest photos of both classes: the claimed one's, then the answer's, each its own.
    blue_part, red_part = red_claimed_blue.split("nearest training photos of")[1:]
    assert blue_part.startswith(" blue_thing") and red_part.startswith(" red_thing")
    assert blue_part.count("blue-") == 4 and red_part.count("red-") == 4
    green = next(s for s in sections if "claimed: <b>green_thing</b>" in s)
    assert "agrees with the claim" in green and green.count("nearest training photos of") == 1


def test_a_trained_model_gives_its_backbone_features(trained_model, sample_dataset_dir, tmp_path):
    """A real model.onnx exposes the backbone's `features` tensor: the cached training
    features match what the model computes, and the nearest photo of a training photo
    is itself."""
    from training.loop.model_features import ModelFeatures
    from training.loop.review_page import _training

    model = ModelFeatures(trained_model.model_path)
    assert model.has_backbone_features and "backbone's features" in model.features_kind
    training = _training(model, sample_dataset_dir)
    first = training.paths[:5]
    scored = model.score(first)
    from training.loop.model_features import unit_rows

    similarity = unit_rows(scored.features) @ training.unit.T
    assert list(similarity.argmax(axis=1)) == list(range(5))
    assert similarity.max(axis=1).min() > 0.999
