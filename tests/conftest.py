"""Test-wide settings: backbones are provisioned into one cache per test session."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# Before any isit/training import reads it: never touch the user's real cache.
os.environ.setdefault("ISIT_CACHE_DIR", tempfile.mkdtemp(prefix="isit-test-cache-"))
# Test helpers (generated models, photos, hostile files) import by name from every folder.
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))


# ---------------------------------------------------------------- served models
# Two models serve the Function's tests:
# - `served_model_path`: a model really trained by `training` on generated photos; the HTTP
#   tests through the dev host and the browser tests use it (ISIT_SERVED_MODEL=colours swaps
#   in the small colour model below, for quick local iterations).
# - `colour_model_path`: a small but real ONNX classifier (mean colour -> linear -> softmax;
#   tests/helpers/modelgen.py) for direct handler calls and fuzzing, where what matters is the
#   request handling, thousands of times over.
import pytest

SERVE_COLOURS = os.environ.get("ISIT_SERVED_MODEL") == "colours"


@pytest.fixture(scope="session")
def colour_model_path(tmp_path_factory):
    import modelgen

    return modelgen.write_model(tmp_path_factory.mktemp("colour-model") / "model.onnx")


@pytest.fixture(scope="session")
def colour_examples():
    """``[(image bytes, expected label), ...]`` for ``colour_model_path``."""
    import modelgen

    return [
        (modelgen.photo("red", seed=1), "red_thing"),
        (modelgen.photo("blue", (640, 480), seed=2), "blue_thing"),
        (modelgen.photo("green", (200, 300), "PNG", seed=3), "green_thing"),
        (modelgen.photo("grey", seed=4), "unknown"),
    ]


@pytest.fixture(scope="session")
def served_model_path(request):
    """The model served over HTTP: really trained (labels circles, squares, triangles)."""
    if SERVE_COLOURS:
        return request.getfixturevalue("colour_model_path")
    return request.getfixturevalue("trained_model_path")


@pytest.fixture(scope="session")
def served_examples(request, served_model_path):
    """``[(image bytes, expected label), ...]`` for ``served_model_path``: NEW photos the
    model never saw (drawn with another seed), and a flat grey one it must call unknown."""
    if SERVE_COLOURS:
        return request.getfixturevalue("colour_examples")
    import modelgen
    from synthetic import new_shape_photos

    return [*new_shape_photos(), (modelgen.photo("grey", noise=0), "unknown")]


# ---------------------------------------------------------------- a really trained model
# Trained once per session on the generated sample photos (training/sampledata.py); the
# Function and web-page tests can serve it through `trained_model_path`.
SAMPLE_PER_CLASS = 45


@pytest.fixture(scope="session")
def sample_dataset_dir(tmp_path_factory):
    """A generated, learnable photo folder: circles/, squares/, triangles/ (odd names too)."""
    from training.data.sampledata import generate

    return generate(
        tmp_path_factory.mktemp("sample-data") / "shapes",
        per_class=SAMPLE_PER_CLASS,
        min_side=64,
        max_side=160,
        seed=7,
    )


@pytest.fixture(scope="session")
def trained_model(sample_dataset_dir, tmp_path_factory):
    """``training.pipeline.TrainResult`` of one real `train` on the sample photos."""
    from training.pipeline import train
    from training.settings import TrainConfig

    return train(
        sample_dataset_dir,
        tmp_path_factory.mktemp("trained") / "model",
        TrainConfig(seed=0),
        quiet=True,
        progress=False,
    )


@pytest.fixture(scope="session")
def fine_tuned_model(tmp_path_factory):
    """A model fine-tuned with test-time flips (issue 28) on a small sample folder: six
    fine-tunings (5 folds and the model's) on 45 photos."""
    from training.data.sampledata import generate
    from training.pipeline import train
    from training.settings import TrainConfig

    data = generate(tmp_path_factory.mktemp("fine-tune-data") / "shapes", per_class=15,
                    min_side=64, max_side=160, seed=7)  # fmt: skip
    config = TrainConfig(seed=0, fine_tune=True, flips=True)
    out = tmp_path_factory.mktemp("fine-tuned") / "model"
    return train(data, out, config, quiet=True, progress=False)


@pytest.fixture(scope="session")
def trained_model_path(trained_model):
    """Path of the trained ``model.onnx`` (labels circles, squares, triangles)."""
    return trained_model.model_path


# ---------------------------------------------------------------- what "slow" means
# A test that needs a model trained by `training` is slow, whoever requests it (directly or
# through `served_model_path`), so `make test-fast` (-m "not slow") never trains one.
TRAINING_FIXTURES = ("trained_model", "fine_tuned_model")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if set(TRAINING_FIXTURES) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _only_slow_tests_train(request, monkeypatch):
    """A test not marked slow that fits a model in this process fails, by name (the
    check before it may run: a folder refused by the check trains nothing)."""
    if request.node.get_closest_marker("slow") is not None:
        return
    import training.pipeline

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} trains a model: mark it @pytest.mark.slow")

    monkeypatch.setattr(training.pipeline, "fit_head", refuse)
