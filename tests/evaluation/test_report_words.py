"""The report's small words (issue 24): plurals, probe photos by what they show."""

from __future__ import annotations

from training.evaluation.report.words import plural, probe_words, were
from training.model.unknown import probe_images


def test_plurals():
    assert [plural(n, "answer") for n in (0, 1, 3)] == ["no answers", "1 answer", "3 answers"]
    assert [were(n) for n in (0, 1, 2)] == ["were", "was", "were"]


def test_every_probe_photo_is_named_by_what_it_shows():
    for name, _ in probe_images():
        words = probe_words(name)
        assert ":" not in words and "." not in words and "_" not in words, (name, words)
    assert probe_words("skimage:chelsea.png") == "a cat"
