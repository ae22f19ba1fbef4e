"""The output folder: one sub-folder per class, files named ``<photo id>.<ext>``, a manifest.

Files appear whole or not at all: bytes go to a hidden temporary file in the class folder,
are flushed to disk, then renamed over the final name (atomic on one file system). The
photo id in the file name is what makes a second run skip what the first one fetched.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from training.data.fetch.fetch_errors import InvalidOption, StorageError

MANIFEST_NAME = "manifest.csv"
TEMP_SUFFIX = ".part"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".heic"})
# Pillow format name -> file extension of the kept file.
EXTENSIONS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tif",
    "HEIF": "heic",
}


@dataclass(frozen=True)
class ManifestRow:
    """One kept photo; ``source_url`` is the photo's Flickr page, for attribution."""

    photo_id: str
    file: str  # relative to the data folder, with forward slashes
    label: str
    owner: str
    owner_name: str
    license: str
    license_name: str
    title: str
    source_url: str
    image_url: str


# Column names in the CSV (``class`` is a keyword in Python, ``label`` in the dataclass).
COLUMNS = [
    "photo_id",
    "file",
    "class",
    "owner",
    "owner_name",
    "license",
    "license_name",
    "title",
    "source_url",
    "image_url",
]


# A spreadsheet runs a cell beginning with one of these as a formula (titles come from
# strangers): such cells are written after a "'", which makes them text, and read back
# without it. Cells already starting with "'" before one of them get one more, so reading
# gives back exactly what was written.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def as_text_cell(value: str) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.lstrip("'").startswith(FORMULA_START) else value


def from_text_cell(value: str) -> str:
    """The value :func:`as_text_cell` wrote."""
    quoted = value.startswith("'") and value.lstrip("'").startswith(FORMULA_START)
    return value[1:] if quoted else value


def _row_to_csv(row: ManifestRow) -> dict[str, str]:
    data = {name: as_text_cell(str(value)) for name, value in asdict(row).items()}
    data["class"] = data.pop("label")
    return data


def _row_from_csv(data: dict[str, str]) -> ManifestRow | None:
    try:
        values = {name: from_text_cell(data[name] or "") for name in COLUMNS}
    except KeyError:
        return None
    values["label"] = values.pop("class")
    return ManifestRow(**values)


def _cannot_write(folder: Path, exc: OSError) -> StorageError:
    return StorageError(
        f"Cannot write into {folder} ({exc.strerror or exc}). Free some disk space or fix the "
        "folder's permissions, or choose another --out; then run the same command again."
    )


class PhotoStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise InvalidOption(f"--out {self.root} is a file; give a folder for the photos.")
        self.manifest_path = self.root / MANIFEST_NAME

    def prepare(self) -> None:
        """Create the folder (only once there is something to put in it)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidOption(
                f"Cannot create the folder {self.root} ({exc.strerror}); choose another --out."
            ) from exc

    def remove_stale_temps(self) -> int:
        """Temporary files left by a run that was killed outright (kill -9, power cut)."""
        removed = 0
        for pattern in (f"*/.*{TEMP_SUFFIX}", f".{MANIFEST_NAME}.*{TEMP_SUFFIX}"):
            for path in self.root.glob(pattern):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def existing(self) -> dict[str, Path]:
        """Photo id -> file, for every ``<digits>.<image ext>`` in a class folder."""
        found: dict[str, Path] = {}
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            for path in folder.iterdir():
                if path.stem.isdigit() and path.suffix.lower() in IMAGE_SUFFIXES:
                    found.setdefault(path.stem, path)
        return found

    def save(self, label: str, photo_id: str, extension: str, data: bytes) -> Path:
        folder = self.root / label
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise _cannot_write(folder, exc) from exc
        final = folder / f"{photo_id}.{extension}"
        temp = folder / f".{photo_id}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}"
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, final)
        except OSError as exc:
            raise _cannot_write(folder, exc) from exc
        finally:
            temp.unlink(missing_ok=True)  # only still there if something failed
        return final

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def load_manifest(self) -> dict[str, ManifestRow]:
        if not self.manifest_path.is_file():
            return {}
        rows: dict[str, ManifestRow] = {}
        with open(self.manifest_path, newline="", encoding="utf-8") as handle:
            for data in csv.DictReader(handle):
                row = _row_from_csv(data)
                if row is not None:
                    rows[row.photo_id] = row
        return rows

    def write_manifest(self, rows: Iterable[ManifestRow]) -> int:
        """Rewrite the manifest (atomically) with the rows whose file is still there."""
        kept = sorted(
            (row for row in rows if (self.root / row.file).is_file()),
            key=lambda row: (row.label, row.file),
        )
        temp = self.root / f".{MANIFEST_NAME}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}"
        try:
            with open(temp, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=COLUMNS)
                writer.writeheader()
                writer.writerows(_row_to_csv(row) for row in kept)
            os.replace(temp, self.manifest_path)
        except OSError as exc:
            raise _cannot_write(self.root, exc) from exc
        finally:
            temp.unlink(missing_ok=True)
        return len(kept)
