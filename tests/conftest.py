"""Test-wide settings: backbones are provisioned into one cache per test session."""

from __future__ import annotations

import os
import tempfile

# Before any isit/training import reads it: never touch the user's real cache.
os.environ.setdefault("ISIT_CACHE_DIR", tempfile.mkdtemp(prefix="isit-test-cache-"))
