"""One way to write a file so that no reader ever sees half of it.

Write to a hidden temporary file in the same folder, flush and fsync, then rename over
the target (atomic on one file system). The temporary file is removed on any failure,
and the result gets ordinary permissions (0666 minus the umask), not mkstemp's 0600.
Its name carries the writer's process id (``.NAME.isit-PID.XXXXXXXX.tmp``), so what a
killed process left behind can be told from a live writer's file and swept
(:mod:`training.leftovers`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

TEMP_MARK = ".isit-"  # between the target's name and the writer's pid


def temp_prefix(name: str) -> str:
    """The start of the temporary name of a file being written to ``name``."""
    return f".{name}{TEMP_MARK}{os.getpid()}."


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_with(
    path: str | os.PathLike[str], write: Callable[[IO[bytes]], None], *, sync: bool = True
) -> Path:
    """Create/replace ``path`` with what ``write(binary_file)`` writes; parents are made.
    ``sync=False`` skips the fsync, for files that are cheap to make again (caches)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = temp_prefix(target.name)
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return target


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Create/replace ``path`` with ``data``. Text is written as UTF-8; characters UTF-8
    cannot hold (file names' undecodable bytes, kept as surrogates) become visible
    escapes instead of an error after the work is done."""
    payload = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    return atomic_write_with(path, lambda handle: handle.write(payload))
