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


@pytest.fixture(scope="session")
def served_model_path(tmp_path_factory):
    """A small real classifier ONNX (mean colour -> linear -> softmax; tests/modelgen.py)."""
    import modelgen

    return modelgen.write_model(tmp_path_factory.mktemp("served-model") / "model.onnx")


@pytest.fixture(scope="session")
def served_examples(served_model_path):
    """``[(image bytes, expected label), ...]`` for ``served_model_path`` ("unknown" allowed)."""
    import modelgen

    return [
        (modelgen.photo("red", seed=1), "red_thing"),
        (modelgen.photo("blue", (640, 480), seed=2), "blue_thing"),
        (modelgen.photo("green", (200, 300), "PNG", seed=3), "green_thing"),
        (modelgen.photo("grey", seed=4), "unknown"),
    ]
