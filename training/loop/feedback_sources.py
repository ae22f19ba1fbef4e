"""Where ``feedback pull`` reads flagged photos from: a Blob container or a folder.

SOURCE is what ``FEEDBACK_STORAGE`` takes (the same words mean the same store):

- a connection string (Azurite's locally, or an account's);
- ``https://<account>.blob.core.windows.net`` (optionally ``/<container>``), signed in with
  ``DefaultAzureCredential`` (``az login``, environment, managed identity);
- ``file:DIR`` or a plain folder: the layout ``isit serve --feedback-dir DIR`` writes.

Both list the item records (``items/<day>/<id>.json``) and read one file by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from isit.errors import IsitError
from isit.photo_feedback import FILE_PREFIX, FeedbackSettings, FeedbackUnavailable

ITEMS_PREFIX = "items/"
# items/<YYYY-MM-DD>/<id>.json: anything else under items/ is not a record.
RECORD_NAME = re.compile(r"items/\d{4}-\d{2}-\d{2}/[0-9A-Za-z_-]{1,64}\.json")


class SourceError(IsitError):
    code = "feedback_source"


class FeedbackSource(Protocol):
    description: str  # for messages; never a key

    def record_names(self) -> Iterator[str]: ...

    def read(self, name: str) -> bytes: ...


class FolderSource:
    """The folder backend's layout, read as it is (hidden ``.part`` files are skipped)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise SourceError(f"{root} is not a folder of feedback (no such folder).")
        self.root = root
        self.description = str(root)

    def record_names(self) -> Iterator[str]:
        for path in sorted((self.root / "items").glob("*/*.json")):
            name = path.relative_to(self.root).as_posix()
            if RECORD_NAME.fullmatch(name):
                yield name

    def read(self, name: str) -> bytes:
        try:
            return (self.root / name).read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {name} in {self.root}: {exc.strerror}") from exc


class BlobSource:
    """A container through ``azure-storage-blob``: the Function's own client settings."""

    def __init__(self, storage: str, container: str, description: str) -> None:
        from isit.feedback_backends import _container_client  # one place reads FEEDBACK_STORAGE

        self.description = description
        try:
            self.container = _container_client(
                FeedbackSettings(storage=storage, container=container)
            )
        except FeedbackUnavailable as exc:
            raise SourceError(f"{description}: {exc.detail}") from exc

    def record_names(self) -> Iterator[str]:
        names = self._call(
            lambda: [b.name for b in self.container.list_blobs(name_starts_with=ITEMS_PREFIX)]
        )
        yield from sorted(n for n in names if RECORD_NAME.fullmatch(n))

    def read(self, name: str) -> bytes:
        return self._call(lambda: self.container.download_blob(name).readall())

    def _call(self, action: Any) -> Any:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return action()
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "ContainerNotFound":
                return []  # nothing was ever flagged: the Function makes it on first use
            raise SourceError(f"{self.description}: {_first_line(exc)}") from exc
        except AzureError as exc:
            raise SourceError(f"cannot read {self.description}: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _connection_description(text: str, container: str) -> str:
    """The endpoint or account of a connection string, never its key."""
    parts = dict(part.split("=", 1) for part in text.split(";") if "=" in part and part.strip())
    where = parts.get("BlobEndpoint") or parts.get("AccountName") or "the storage account"
    return f"container '{container}' at {where}"


def open_source(source: str, container: str | None = None) -> FeedbackSource:
    """The store ``source`` names (see the module's docstring)."""
    container = container or FeedbackSettings().container
    text = source.strip()
    if text.startswith(FILE_PREFIX):
        return FolderSource(Path(text[len(FILE_PREFIX) :]).expanduser())
    if text.lower().startswith("https://"):
        parts = urlsplit(text)
        path_container = parts.path.strip("/").split("/")[0]
        account = f"https://{parts.netloc}/"
        where = f"container '{path_container or container}' at {account}"
        return BlobSource(account, path_container or container, where)
    if ("=" in text and ";" in text) or text.startswith("UseDevelopmentStorage"):
        return BlobSource(text, container, _connection_description(text, container))
    if Path(text).expanduser().is_dir():
        return FolderSource(Path(text).expanduser())
    shown = "SOURCE" if "=" in text else repr(text[:60])  # never echo a key
    raise SourceError(
        f"{shown} is not a feedback source: give a folder (file:DIR), an account URL "
        "(https://<account>.blob.core.windows.net) or a connection string."
    )
