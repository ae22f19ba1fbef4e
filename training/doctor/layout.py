"""Walk DATA_DIR: which files belong to which class (and which user split), what to ignore.

Two layouts are understood:

- ``DATA_DIR/<class>/**/<image>``: one folder per class, images at any depth inside it;
- ``DATA_DIR/{train,val,test}/<class>/**/<image>``: the user's own split (``valid`` and
  ``validation`` are read as ``val``). Every split folder must hold the same class folders.

Nothing here opens an image; it only lists files. Nothing is ever written to DATA_DIR.
"""

from __future__ import annotations

import os
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


def _walk_class(folder: Path, root: Path, label: str, split: str | None, out: Layout) -> None:
    for current, dirnames, filenames in os.walk(folder):
        here = Path(current)
        keep = []
        for name in sorted(dirnames):
            if _hidden(name):
                out.ignored.append(
                    (_rel(here / name, root) + "/", "hidden", "Hidden or system folder, skipped.")
                )
            else:
                keep.append(name)
        dirnames[:] = keep  # os.walk descends only into these, in this order
        for name in sorted(filenames):
            path = here / name
            if _hidden(name):
                out.ignored.append((_rel(path, root), "hidden", "Hidden or system file, skipped."))
            else:
                out.candidates.append(Candidate(_rel(path, root), label, split))


def _outside_reason(path: Path) -> str:
    if path.suffix.lower() in Image.registered_extensions():
        return "A photo outside any class folder, skipped: move it into the folder of its class."
    return "Not in a class folder, skipped (fine for notes and manifests)."


def _visible_folders(folder: Path, root: Path, out: Layout) -> list[Path]:
    """The sub-folders of ``folder`` that may be classes; files there are reported."""
    visible = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        rel = _rel(entry, root)
        if _hidden(entry.name):
            what = "folder" if entry.is_dir() else "file"
            out.ignored.append(
                (rel + "/" * entry.is_dir(), "hidden", f"Hidden or system {what}, skipped.")
            )
        elif entry.is_dir():
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
    visible = _visible_folders(root, root, out)
    split_dirs = [d for d in visible if d.name.lower() in SPLIT_FOLDERS]
    if not split_dirs:
        out.class_names = [d.name for d in visible]
        for d in visible:
            _walk_class(d, root, d.name, None, out)
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
        for d in _visible_folders(split_dir, root, out):
            names.add(d.name)
            _walk_class(d, root, d.name, split, out)
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
