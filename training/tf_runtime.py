"""The one way isit imports TensorFlow: quiet by default, everything with ``verbose``.

TensorFlow's C++ side writes straight to file descriptor 2 while it loads ("All log
messages before absl::InitializeLog() is called are written to STDERR", oneDNN and CPU
feature notices), below Python's ``sys.stderr``, so no Python setting silences it.
:func:`import_tensorflow` sets the log level from :mod:`training.settings` first, then
captures fd 2 around the first import and drops those known notices (other lines, which
may matter, are passed on; ``verbose`` passes on everything).

Use it instead of a bare ``import tensorflow`` / ``import keras`` at the first place
that needs them::

    from training.tf_runtime import import_keras, import_tensorflow

    tf = import_tensorflow()
    keras = import_keras()
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

from training.settings import TF_LOG_LEVEL

# Lines TensorFlow prints while loading that tell a user nothing they can act on.
_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations|"
    r"cpu_feature_guard|This TensorFlow binary is optimized|To enable the following "
    r"instructions|rebuild TensorFlow with the appropriate compiler flags|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|Could not find cuda drivers|"
    r"TF-TRT Warning|computation placer already registered|"
    r"E0000 00:00:.*(cuda|cuInit)"
)


_verbose = False  # set by configure(): `isit train --verbose`


def configure(verbose: bool = False) -> None:
    """Set TensorFlow's log environment before it is imported (a user's own value wins);
    ``verbose`` also makes later imports pass on every line."""
    global _verbose
    _verbose = _verbose or verbose
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)


@contextlib.contextmanager
def _captured_fd2(verbose: bool) -> Iterator[None]:
    """Send fd 2 to a temporary file for the block; replay what matters afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines() if verbose or not _NOISE.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


def _import_quietly(name: str, verbose: bool | None) -> ModuleType:
    configure(bool(verbose))
    verbose = _verbose
    if name in sys.modules:
        return sys.modules[name]
    import importlib

    with _captured_fd2(verbose):
        return importlib.import_module(name)


def import_tensorflow(verbose: bool | None = None) -> ModuleType:
    """``tensorflow``, imported once with its start-up notices filtered out."""
    return _import_quietly("tensorflow", verbose)


def import_keras(verbose: bool | None = None) -> ModuleType:
    """``keras`` (which loads TensorFlow), imported the same way."""
    import_tensorflow(verbose)
    return _import_quietly("keras", verbose)
