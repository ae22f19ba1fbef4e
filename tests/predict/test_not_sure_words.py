"""A "not sure" answer reads as not sure: a guess named as one, how unlike in words, no
score (issue 24). The colour model calls a flat grey photo unknown."""

from __future__ import annotations

import pytest

from isit.bundle import how_unlike, load_bundle, unlike_sentence
from training.cli import main


def test_how_unlike_grows_with_the_distance_past_the_threshold():
    assert [how_unlike(s, 0.2) for s in (0.21, 0.3, 0.5)] == ["a little", "quite", "very"]
    assert how_unlike(0.1, 0.2, negative=True) == "like other"
    assert unlike_sentence("quite", "elsa") == (
        "quite unlike the photos it learnt from; only a guess: elsa"
    )


def test_a_grey_photo_is_answered_without_a_score(colour_model_path, tmp_path, capsys):
    import modelgen

    photo = tmp_path / "grey.jpg"
    photo.write_bytes(modelgen.photo("grey", noise=0))
    prediction = load_bundle(colour_model_path).predict(photo.read_bytes())
    assert prediction.unknown and prediction.unlike in ("a little", "quite", "very")
    assert main(["predict", str(colour_model_path), str(photo)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{photo}: unknown (") and "only a guess: " in line
    assert "score" not in line and "%" not in line


@pytest.mark.parametrize("word", ["red", "blue"])
def test_an_answer_carries_no_unlike(colour_model_path, word):
    import modelgen

    prediction = load_bundle(colour_model_path).predict(modelgen.photo(word, seed=1))
    assert not prediction.unknown and prediction.unlike is None
