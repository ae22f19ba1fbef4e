"""What killed isit processes leave behind, and sweeping it on the next run (issue 26).

Only isit's own names are ever matched:

- the temporary file of an atomic write, ``.NAME.isit-PID.XXXXXXXX.tmp``
  (:mod:`training.atomic`), and, in the cache only, the older ``.NAME.XXXXXXXX.tmp``
  written before the pid was part of the name;
- the staging folder of a run, ``.isit-incomplete-NAME-PID`` (:mod:`training.outputs`).

One is removed when no process with its pid runs any more on this machine, or, whatever
its pid says, when it has not changed for :data:`STALE_SECONDS` (the pid was reused).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from training.atomic import TEMP_MARK

INCOMPLETE_PREFIX = ".isit-incomplete-"
STALE_SECONDS = 24 * 3600  # a run or a write taking longer than this is not alive
LEGACY_STALE_SECONDS = 3600  # old names carry no pid: only their age tells
_TEMP = re.compile(rf"^\..+{re.escape(TEMP_MARK)}(\d+)\.[a-z0-9_]{{8}}\.tmp$")
_LEGACY_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
_INCOMPLETE = re.compile(rf"^{re.escape(INCOMPLETE_PREFIX)}.*-(\d+)$")


def incomplete_name(target_name: str, pid: int | None = None) -> str:
    """The staging folder's name of a run writing ``target_name``."""
    return f"{INCOMPLETE_PREFIX}{target_name}-{os.getpid() if pid is None else pid}"


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (ours counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: alive
        return True
    except (OverflowError, ValueError):
        return False
    return True


def _age(path: Path, now: float) -> float | None:
    try:
        return now - path.lstat().st_mtime
    except OSError:
        return None


def _dead(pid: int, age: float | None) -> bool:
    if age is None:  # gone already
        return False
    return age > STALE_SECONDS or not process_alive(pid)


def sweep_incomplete(parent: Path) -> list[Path]:
    """Remove the staging folders of dead runs in ``parent``; returns what was removed."""
    removed: list[Path] = []
    now = time.time()
    try:
        children = list(parent.iterdir())
    except OSError:
        return removed
    for child in children:
        match = _INCOMPLETE.match(child.name)
        dead = match and not child.is_symlink() and child.is_dir()
        if dead and _dead(int(match.group(1)), _age(child, now)):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed


def _stale_temp(path: Path, now: float, legacy: bool | Sequence[str]) -> bool:
    match = _TEMP.match(path.name)
    if match:
        return _dead(int(match.group(1)), _age(path, now))
    ours = legacy is True or (legacy and any(path.name.startswith(f".{n}.") for n in legacy))
    if ours and _LEGACY_TEMP.match(path.name):
        age = _age(path, now)
        return age is not None and age > LEGACY_STALE_SECONDS
    return False


def sweep_temp_files(
    root: Path, *, recursive: bool = False, legacy: bool | Sequence[str] = False
) -> list[Path]:
    """Remove dead writers' temporary files in ``root`` (and below it when ``recursive``).
    ``legacy`` also matches the pid-less names of older versions: any (True: isit's cache)
    or only those of the file names listed (a run folder's own files)."""
    removed: list[Path] = []
    now = time.time()
    walk = os.walk(root) if recursive else [(str(root), [], _names(root))]
    for folder, _, names in walk:
        for name in names:
            path = Path(folder) / name
            if name.endswith(".tmp") and _stale_temp(path, now, legacy):
                try:
                    path.unlink()
                except OSError:
                    continue
                removed.append(path)
    return removed


def _names(folder: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(folder) if e.is_file(follow_symlinks=False)]
    except OSError:
        return []
