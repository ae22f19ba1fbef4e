"""Where flagged photos go: a private Blob container, or a folder (same relative layout).

``FEEDBACK_STORAGE`` picks the backend:

- ``https://<account>.blob.core.windows.net/``: Azure, with ``DefaultAzureCredential`` (the
  Function's managed identity; ``FEEDBACK_CLIENT_ID`` names a user-assigned one);
- a connection string (``DefaultEndpointsProtocol=...;BlobEndpoint=...``, e.g. Azurite's):
  local development through the same SDK;
- ``file:DIR``: a folder, for people without Node (``isit serve --feedback-dir DIR``).

The Azure SDK is imported on first use only, so cold starts without feedback pay nothing.
Every storage failure becomes :class:`~isit.photo_feedback.FeedbackUnavailable` (503).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from isit.photo_feedback import FILE_PREFIX, FeedbackItem, FeedbackSettings, FeedbackUnavailable

# A visitor is waiting: fail in seconds, not after the SDK's default minute of backoff.
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 20
RETRIES = 2
BACKOFF_S = 1.0


class FeedbackStore(Protocol):
    def put(self, item: FeedbackItem) -> None: ...


def _record_bytes(item: FeedbackItem) -> bytes:
    return json.dumps(item.record(), ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


class FolderStore:
    """``DIR/items/<day>/<id>.<ext>`` then ``<id>.json``; each written to a hidden temporary
    name and renamed, so a reader never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, item: FeedbackItem) -> None:
        try:
            self._write(item.photo_name, item.photo)
            self._write(item.record_name, _record_bytes(item))
        except OSError as exc:
            raise FeedbackUnavailable(
                f"cannot write feedback under {self.root}: {exc.strerror or exc}"
            ) from exc

    def _write(self, name: str, data: bytes) -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class BlobStore:
    """A container of an Azure Storage account (or Azurite), through ``azure-storage-blob``."""

    def __init__(self, settings: FeedbackSettings) -> None:
        self.container_name = settings.container
        self.container = _container_client(settings)

    def put(self, item: FeedbackItem) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            try:
                self._upload(item.photo_name, item.photo, item.content_type)
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", None) != "ContainerNotFound":
                    raise
                self._create_container()  # locally (Azurite); Bicep makes it in Azure
                self._upload(item.photo_name, item.photo, item.content_type)
            self._upload(item.record_name, _record_bytes(item), "application/json")
        except AzureError as exc:
            raise FeedbackUnavailable(
                f"cannot write to container {self.container_name!r}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc

    def _upload(self, name: str, data: bytes, content_type: str) -> None:
        from azure.storage.blob import ContentSettings

        self.container.upload_blob(
            name, data, overwrite=False, content_settings=ContentSettings(content_type)
        )

    def _create_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):  # another request made it meanwhile
            self.container.create_container()


def _container_client(settings: FeedbackSettings) -> Any:
    try:
        from azure.storage.blob import BlobServiceClient, LinearRetry
    except ImportError as exc:
        raise FeedbackUnavailable(
            "azure-storage-blob is not installed: install requirements.txt"
        ) from exc
    # The SDK logs every request's headers at INFO: noise in the Function's log.
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    options: dict[str, Any] = {
        # Linear: the SDK's exponential policy sleeps 2.5 s then 4.5 s even with tiny settings.
        "retry_policy": LinearRetry(
            backoff=BACKOFF_S, random_jitter_range=BACKOFF_S / 2, retry_total=RETRIES
        ),
        "connection_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
    }
    try:
        if settings.storage.lower().startswith("https://"):
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential(
                managed_identity_client_id=settings.client_id or None
            )
            service = BlobServiceClient(settings.storage, credential=credential, **options)
        else:
            service = BlobServiceClient.from_connection_string(settings.storage, **options)
    except (ValueError, ImportError) as exc:
        raise FeedbackUnavailable(
            "FEEDBACK_STORAGE is neither an https:// blob account URL, a connection string "
            f"nor file:DIR ({type(exc).__name__})"
        ) from exc
    return service.get_container_client(settings.container)


_stores: dict[tuple[str, str, str], FeedbackStore] = {}
_stores_lock = threading.Lock()


def store_for(settings: FeedbackSettings) -> FeedbackStore:
    """The process-wide store for these settings (a client and credential are made once)."""
    key = (settings.storage, settings.container, settings.client_id)
    with _stores_lock:
        if key not in _stores:
            if settings.storage.startswith(FILE_PREFIX):
                folder = Path(settings.storage[len(FILE_PREFIX) :]).expanduser()
                _stores[key] = FolderStore(folder.resolve())
            else:
                _stores[key] = BlobStore(settings)
        return _stores[key]


def reset_stores() -> None:
    """Forget cached clients (tests)."""
    with _stores_lock:
        _stores.clear()
