"""The inbox ``feedback pull`` fills: ``INBOX/<claimed label>/<id>.<ext>``, a manifest, a state.

- Photos are written under a hidden temporary name and then linked to their final name,
  which fails rather than replaces when the name is taken: nothing is ever overwritten.
- ``manifest.csv`` gets one row per photo (appended; cells a spreadsheet would run as a
  formula are written as text).
- ``.isit-pulled.json`` remembers which items were pulled (rewritten atomically), so a
  second pull adds nothing even after the owner moved the photos away.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from training.atomic import atomic_write

MANIFEST_NAME = "manifest.csv"
STATE_NAME = ".isit-pulled.json"
MANIFEST_COLUMNS = ("id", "file", "claimed_label", "model_answer", "model_version", "received")
NONE_FOLDER = "none"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10))}
_WINDOWS_RESERVED |= {f"lpt{i}" for i in range(10)}
MAX_FOLDER_NAME = 64


def text_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: ``=cmd()`` becomes ``'=cmd()``."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def cell_value(text: str) -> str:
    """What :func:`text_cell` wrote, read back."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


def safe_folder_name(label: object) -> str:
    """A record's label as a folder name that stays one folder, on any system: letters,
    digits, ``_ - .`` and spaces kept; separators, control and odd characters become ``_``;
    no leading dot (hidden), no Windows device name; empty means ``none``."""
    text = unicodedata.normalize("NFC", str(label or "")).strip()
    kept = "".join(c if c.isalnum() or c in "_-. " else "_" for c in text)
    kept = re.sub(r"_+", "_", re.sub(r"\.{2,}", "_", kept)).strip(" ._")
    kept = kept[:MAX_FOLDER_NAME].strip(" ._")
    if not kept or set(kept) <= {"_"}:
        return NONE_FOLDER
    if kept.lower().split(".")[0] in _WINDOWS_RESERVED:
        kept = f"{kept}_"
    return kept


@dataclass(frozen=True)
class ManifestRow:
    id: str
    file: str  # relative to the inbox, with /
    claimed_label: str
    model_answer: str
    model_version: str
    received: str


class Inbox:
    """One inbox folder: what it already pulled, and how a new photo goes in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_path = root / STATE_NAME
        self.manifest_path = root / MANIFEST_NAME

    def pulled(self) -> dict[str, str]:
        """``{item id: file}`` of every item pulled before (an unreadable state is an error:
        guessing would pull everything again)."""
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            from isit.errors import IsitError

            raise IsitError(
                f"{self.state_path} cannot be read ({exc}); restore it, or pull into a new folder."
            ) from exc
        return {str(k): str(v) for k, v in dict(state.get("pulled", {})).items()}

    def remember(self, pulled: dict[str, str]) -> None:
        state = {"pulled": dict(sorted(pulled.items()))}
        atomic_write(self.state_path, json.dumps(state, indent=1, ensure_ascii=False) + "\n")

    def manifest_ids(self) -> set[str]:
        try:
            with open(self.manifest_path, newline="", encoding="utf-8") as handle:
                return {cell_value(row.get("id") or "") for row in csv.DictReader(handle)}
        except FileNotFoundError:
            return set()

    def add_photo(self, folder: str, name: str, data: bytes) -> Path:
        """Write ``data`` as ``folder/name`` (``name (1).ext``... when taken); the final name
        appears only once the bytes are all there."""
        target_dir = self.root / folder
        target_dir.mkdir(parents=True, exist_ok=True)
        earlier = target_dir / name
        if earlier.is_file() and earlier.read_bytes() == data:
            return earlier  # written by a pull cut short before it could remember it
        handle, temporary = tempfile.mkstemp(prefix=".", suffix=".part", dir=target_dir)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            return _link_to_free_name(Path(temporary), target_dir, name)
        finally:
            Path(temporary).unlink(missing_ok=True)

    def append_manifest(self, rows: list[ManifestRow]) -> None:
        if not rows:
            return
        new = not self.manifest_path.exists()
        with open(self.manifest_path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(MANIFEST_COLUMNS)
            for row in rows:
                writer.writerow([text_cell(getattr(row, c)) for c in MANIFEST_COLUMNS])
            handle.flush()
            os.fsync(handle.fileno())


def _link_to_free_name(source: Path, folder: Path, name: str) -> Path:
    """A hard link never replaces an existing file (unlike rename): the no-overwrite rule
    holds even against another program writing into the folder at the same time."""
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, dot + ext) if dot else (name, "")
    for n in range(10_000):
        target = folder / (name if n == 0 else f"{stem} ({n}){ext}")
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: check, then rename
            if target.exists():
                continue
            os.replace(source, target)
        return target
    raise FileExistsError(f"no free name for {name} in {folder}")
