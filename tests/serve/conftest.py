"""The Function's tests: app settings at their defaults, serving the small colour model."""

from __future__ import annotations

import pytest
from function_helpers import SETTINGS, reset_function_state


@pytest.fixture
def api(monkeypatch, colour_model_path):
    """Default app settings with the colour model, and a fresh model cache around each test
    (yields ``monkeypatch`` for a test to change a setting)."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_PATH", str(colour_model_path))
    reset_function_state()
    yield monkeypatch
    reset_function_state()
