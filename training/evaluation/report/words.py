"""Plain words for the report: plurals, and the unrelated photos named by what they show.

Why here: the report is read by photo owners, not data scientists; a term of the trade
is replaced or explained in one line where it appears (sections.py), and these helpers
keep the small things (``1 answer was``, ``a cat`` not ``skimage:chelsea.png``) right.
"""

from __future__ import annotations

# The unrelated photos `train` shows the model (scikit-image's and scikit-learn's sample
# images, training.model.unknown.probe_images), by what they show.
PROBE_WORDS = {
    "astronaut": "an astronaut",
    "brick": "a brick wall",
    "camera": "a man with a camera (black and white)",
    "cell": "a cell under a microscope",
    "chelsea": "a cat",
    "chessboard_GRAY": "a chessboard pattern (grey)",
    "chessboard_RGB": "a chessboard pattern",
    "clock_motion": "a blurred clock",
    "coffee": "a cup of coffee",
    "coins": "old coins",
    "color": "a colour wheel",
    "grass": "grass",
    "gravel": "gravel",
    "horse": "a horse's silhouette",
    "hubble_deep_field": "galaxies (a Hubble photo)",
    "ihc": "stained tissue under a microscope",
    "logo": "a software logo",
    "microaneurysms": "the back of an eye (grey)",
    "moon": "the moon's surface",
    "motorcycle_left": "a motorcycle",
    "motorcycle_right": "a motorcycle, seen a little to the right",
    "multipage": "a tiny test image",
    "no_time_for_that_tiny": "a tiny animated picture",
    "page": "a scanned page of text",
    "phantom": "a medical test picture",
    "retina": "the back of an eye",
    "rocket": "a rocket launch",
    "text": "text painted on a photo",
    "china": "a Chinese temple",
    "flower": "a flower",
}


def probe_words(name: str) -> str:
    """``"skimage:chelsea.png"`` -> ``"a cat"``; an unlisted name keeps its file's stem."""
    stem = name.split(":", 1)[-1].rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return PROBE_WORDS.get(stem, stem.replace("_", " "))


def plural(count: int, one: str, many: str | None = None) -> str:
    """``"1 answer"``, ``"3 answers"``, ``"no answers"`` (``many``: an irregular plural)."""
    word = one if count == 1 else (many or one + "s")
    return f"{'no' if count == 0 else count} {word}"


def were(count: int) -> str:
    return "was" if count == 1 else "were"
