"""Test-wide settings: backbones are provisioned into one cache per test session."""

from __future__ import annotations

import os
import tempfile

# Before any isit/training import reads it: never touch the user's real cache.
os.environ.setdefault("ISIT_CACHE_DIR", tempfile.mkdtemp(prefix="isit-test-cache-"))


# ---------------------------------------------------------------- served model (Function tests)
# The HTTP tests (tests/test_function*.py, tests/test_devhost*.py) take the model and its
# labelled examples from these two fixtures, so they can be pointed at a really trained model
# by overriding both.
import pytest

# ISIT_SERVED_MODEL=trained serves the model `trained_model_path` trains (slower, real).
SERVE_TRAINED = os.environ.get("ISIT_SERVED_MODEL") == "trained"


@pytest.fixture(scope="session")
def served_model_path(request, tmp_path_factory):
    """A small real classifier ONNX (mean colour -> linear -> softmax; tests/modelgen.py)."""
    if SERVE_TRAINED:
        return request.getfixturevalue("trained_model_path")
    import modelgen

    return modelgen.write_model(tmp_path_factory.mktemp("served-model") / "model.onnx")


@pytest.fixture(scope="session")
def served_examples(request, served_model_path):
    """``[(image bytes, expected label), ...]`` for ``served_model_path`` ("unknown" allowed)."""
    import modelgen

    if SERVE_TRAINED:  # sample photos of each class the model learnt, and a flat grey photo
        folder = request.getfixturevalue("sample_dataset_dir")
        examples = []
        for label in ("circles", "squares", "triangles"):
            # Plainly named ones: the odd names/edge cases are training's business.
            photos = sorted((folder / label).glob(f"{label}_0[0-4]*.*"))
            examples += [(p.read_bytes(), label) for p in photos[-2:]]
        return [*examples, (modelgen.photo("grey", noise=0), "unknown")]
    return [
        (modelgen.photo("red", seed=1), "red_thing"),
        (modelgen.photo("blue", (640, 480), seed=2), "blue_thing"),
        (modelgen.photo("green", (200, 300), "PNG", seed=3), "green_thing"),
        (modelgen.photo("grey", seed=4), "unknown"),
    ]


# ---------------------------------------------------------------- a really trained model
# Trained once per session on the generated sample photos (training/sampledata.py); the
# Function and web-page tests can serve it through `trained_model_path`.
SAMPLE_PER_CLASS = 45


@pytest.fixture(scope="session")
def sample_dataset_dir(tmp_path_factory):
    """A generated, learnable photo folder: circles/, squares/, triangles/ (odd names too)."""
    from training.sampledata import generate

    return generate(
        tmp_path_factory.mktemp("sample-data") / "shapes",
        per_class=SAMPLE_PER_CLASS,
        min_side=64,
        max_side=160,
        seed=7,
    )


@pytest.fixture(scope="session")
def trained_model(sample_dataset_dir, tmp_path_factory):
    """``training.train_command.TrainResult`` of one real `train` on the sample photos."""
    from training.train_command import train

    return train(
        sample_dataset_dir,
        tmp_path_factory.mktemp("trained") / "model",
        seed=0,
        quiet=True,
        progress=False,
    )


@pytest.fixture(scope="session")
def trained_model_path(trained_model):
    """Path of the trained ``model.onnx`` (labels circles, squares, triangles)."""
    return trained_model.model_path
