"""Walk DATA_DIR: which files belong to which class (and which user split), what to ignore.

Two layouts are understood:

- ``DATA_DIR/<class>/**/<image>``: one folder per class, images at any depth inside it;
- ``DATA_DIR/{train,val,test}/<class>/**/<image>``: the user's own split (``valid`` and
  ``validation`` are read as ``val``). Every split folder must hold the same class folders.

Nothing here opens a file: entries are classified with ``lstat``/``stat`` only. Only
regular files become candidates; pipes, devices and sockets are reported. Links are
followed only to files inside DATA_DIR; links that leave it, links to folders (which can
loop or count photos twice) and dangling links are reported, never followed. Any file name
is handled (non-UTF-8 bytes arrive as surrogate escapes; see :mod:`isit.display` for
showing them). Nothing is ever written to DATA_DIR.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

SPLIT_FOLDERS = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}
SPLITS = ("train", "val", "test")
# Folders and files operating systems and tools leave behind; never classes or photos.
SYSTEM_NAMES = {
    "__MACOSX",
    "@eaDir",
    "$RECYCLE.BIN",
    "System Volume Information",
    "Thumbs.db",
    "desktop.ini",
    "__pycache__",
}
# Problems with entries that are not plain files or folders (never opened).
LINK_OUTSIDE = (
    "A link to something outside the data folder, skipped: isit reads only what is inside "
    "it. Copy the photo or folder in instead."
)
LINK_LOOP = "A link back to a folder it is in (a loop), skipped."
LINK_FOLDER = (
    "A link to another folder inside the data folder, skipped: its photos are checked "
    "where they are (following it would count them twice)."
)
BROKEN_LINK = "A link whose target is missing (or links in a circle), skipped."
NOT_A_FILE = (
    "Not a regular file (a pipe, device or socket), skipped without reading it. Only photo "
    "files are read."
)


@dataclass(frozen=True)
class Candidate:
    """A file that should be an image of class ``label`` (maybe in a user split)."""

    path: str  # relative to DATA_DIR, with forward slashes
    label: str
    user_split: str | None


@dataclass
class Layout:
    candidates: list[Candidate] = field(default_factory=list)
    ignored: list[tuple[str, str, str]] = field(default_factory=list)  # (path, kind, reason)
    class_names: list[str] = field(default_factory=list)
    user_splits: list[str] = field(default_factory=list)  # the split folders present
    fatal: list[str] = field(default_factory=list)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in SYSTEM_NAMES


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


@dataclass
class _Walk:
    """One scan: the data folder's real location and the folders already walked."""

    root: Path
    real_root: str
    seen: set[tuple[int, int]] = field(default_factory=set)

    def inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.real_root.rstrip("/") + "/")


def _classify(path: Path, walk: _Walk) -> tuple[str, str, str]:
    """``("dir"|"file"|"problem", kind, reason)`` from lstat/stat only: nothing is opened."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            real = os.path.realpath(path)
            if not walk.inside(real):
                return "problem", "symlink_outside", LINK_OUTSIDE
            info = os.stat(path)
            if stat.S_ISDIR(info.st_mode):
                here = os.path.realpath(path.parent)
                loop = here == real or here.startswith(real.rstrip("/") + "/")
                return "problem", *(
                    ("symlink_loop", LINK_LOOP) if loop else ("symlink_folder", LINK_FOLDER)
                )
    except OSError as exc:  # a dangling link, a link loop (ELOOP), no permission
        if os.path.islink(path):
            return "problem", "broken_link", BROKEN_LINK
        return "problem", "unreadable", f"Cannot be read ({exc.strerror}), skipped."
    if stat.S_ISDIR(info.st_mode):
        return "dir", "", ""
    if stat.S_ISREG(info.st_mode):
        return "file", "", ""
    return "problem", "not_a_file", NOT_A_FILE


def _entries(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as found:
            return sorted((folder / e.name for e in found), key=lambda p: p.name)
    except OSError:
        return []


def _first_visit(folder: Path, walk: _Walk) -> bool:
    """False for a folder walked before (a bind mount or other second way in)."""
    try:
        info = os.stat(folder)
    except OSError:
        return False
    key = (info.st_dev, info.st_ino)
    if key in walk.seen:
        return False
    walk.seen.add(key)
    return True


def _walk_class(folder: Path, walk: _Walk, label: str, split: str | None, out: Layout) -> None:
    root = walk.root
    stack = [folder]
    while stack:  # depth first, files before sub-folders, like os.walk top-down
        here = stack.pop()
        if not _first_visit(here, walk):
            out.ignored.append((_rel(here, root) + "/", "symlink_loop", LINK_LOOP))
            continue
        subfolders = []
        for path in _entries(here):
            what, kind, reason = _classify(path, walk)
            if _hidden(path.name):
                slash = "/" if what == "dir" else ""
                out.ignored.append(
                    (
                        _rel(path, root) + slash,
                        "hidden",
                        f"Hidden or system {'folder' if slash else 'file'}, skipped.",
                    )
                )
            elif what == "problem":
                out.ignored.append((_rel(path, root), kind, reason))
            elif what == "dir":
                subfolders.append(path)
            else:
                out.candidates.append(Candidate(_rel(path, root), label, split))
        stack.extend(reversed(subfolders))


def _outside_reason(path: Path) -> str:
    if path.suffix.lower() in Image.registered_extensions():
        return "A photo outside any class folder, skipped: move it into the folder of its class."
    return "Not in a class folder, skipped (fine for notes and manifests)."


def _visible_folders(folder: Path, walk: _Walk, out: Layout) -> list[Path]:
    """The sub-folders of ``folder`` that may be classes; files there are reported."""
    root = walk.root
    visible = []
    _first_visit(folder, walk)
    for entry in _entries(folder):
        rel = _rel(entry, root)
        what, kind, reason = _classify(entry, walk)
        if _hidden(entry.name):
            word = "folder" if what == "dir" else "file"
            out.ignored.append(
                (rel + "/" * (what == "dir"), "hidden", f"Hidden or system {word}, skipped.")
            )
        elif what == "problem":
            out.ignored.append((rel, kind, reason))
        elif what == "dir":
            visible.append(entry)
        else:
            out.ignored.append((rel, "outside_class_folder", _outside_reason(entry)))
    return visible


def scan_layout(root: Path) -> Layout:
    """List every file under ``root`` as a candidate image or an ignored entry."""
    out = Layout()
    if not root.exists():
        out.fatal.append(
            f"{root} does not exist. Give the folder that holds one sub-folder of photos per class."
        )
        return out
    if not root.is_dir():
        out.fatal.append(
            f"{root} is a file, not a folder. Give the folder that holds one "
            "sub-folder of photos per class."
        )
        return out
    walk = _Walk(root, os.path.realpath(root))
    visible = _visible_folders(root, walk, out)
    split_dirs = [d for d in visible if d.name.lower() in SPLIT_FOLDERS]
    if not split_dirs:
        out.class_names = [d.name for d in visible]
        for d in visible:
            _walk_class(d, walk, d.name, None, out)
        return out

    others = [d.name for d in visible if d.name.lower() not in SPLIT_FOLDERS]
    if others:
        out.fatal.append(
            f"{root} mixes split folders ({', '.join(d.name + '/' for d in split_dirs)}) with "
            f"class folders ({', '.join(n + '/' for n in others)}). Either put every class "
            "folder inside train/ (and val/, test/), or remove the split folders."
        )
        return out
    classes_by_split: dict[str, set[str]] = {}
    for split_dir in split_dirs:
        split = SPLIT_FOLDERS[split_dir.name.lower()]
        names = classes_by_split.setdefault(split, set())
        for d in _visible_folders(split_dir, walk, out):
            names.add(d.name)
            _walk_class(d, walk, d.name, split, out)
    out.user_splits = [s for s in SPLITS if s in classes_by_split]
    everything = set().union(*classes_by_split.values())
    out.class_names = sorted(everything)
    disagreeing = {s: names for s, names in classes_by_split.items() if names != everything}
    if disagreeing:
        details = "; ".join(
            f"{split}/ lacks {', '.join(sorted(everything - names)) or '-'}"
            for split, names in sorted(disagreeing.items())
        )
        out.fatal.append(
            "The split folders disagree on class names "
            f"({details}). Every split folder needs the same class folders, spelled the same: "
            "rename or add the missing folders."
        )
    return out
