"""Shared helpers of the feedback tests: forms, hostile uploads, Azurite, reading items back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hostile
import modelgen
import pytest
from function_helpers import SETTINGS, jpeg_with_size, multipart, png_bomb

from isit.imaging import DEFAULT_LIMITS

FEEDBACK_SETTINGS = (
    "FEEDBACK_STORAGE",
    "FEEDBACK_CONTAINER",
    "FEEDBACK_RATE_PER_MINUTE",
    "FEEDBACK_DAILY_CAP",
    "FEEDBACK_RETENTION_DAYS",
    "FEEDBACK_CLIENT_ID",
)
RECORD_KEYS = {"id", "received", "label", "answer", "model_version", "photo", "sha256", "bytes"}

# Uploads /api/classify refuses (each a different guard), for "refused as classify refuses".
HOSTILE_UPLOADS = {
    "png_bomb": png_bomb(),
    "jpeg_claiming_60000px": jpeg_with_size(modelgen.photo("red"), 60_000, 60_000),
    "jpeg_scan_bomb": hostile.progressive_scan_bomb(64, DEFAULT_LIMITS.max_jpeg_scans),
    "png_header_8900px": hostile.png_header_claiming(8900, 8900),
    "icon_with_huge_png": hostile.ico_embedding(hostile.png_header_claiming(12000, 12000)),
    "svg": hostile.SVG_WITH_BOM,
    "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
    "text": b"just some text, not a photo\n" * 10,
    "truncated_jpeg": modelgen.photo("red")[:600],
}


def reset_feedback_state() -> None:
    """Forget rate-limit counts and storage clients (a fresh instance)."""
    from isit.feedback_backends import reset_stores
    from isit.photo_feedback import reset_limits

    reset_limits()
    reset_stores()


@contextmanager
def serving_feedback(model_path: Path, storage: str, container: str) -> Iterator[Any]:
    """The dev host serving ``model_path``, storing feedback in ``storage`` (a folder or a
    connection string) under ``container``, and no other setting; stopped and its
    feedback state reset after."""
    from devhost.server import start

    with pytest.MonkeyPatch.context() as mp:
        for name in (*SETTINGS, *FEEDBACK_SETTINGS):
            mp.delenv(name, raising=False)
        mp.setenv("FEEDBACK_STORAGE", storage)
        mp.setenv("FEEDBACK_CONTAINER", container)
        reset_feedback_state()
        host = start(port=0, site_dir=None, model_path=model_path)
        try:
            yield host
        finally:
            host.stop()
            reset_feedback_state()


def feedback_form(
    photo: bytes,
    label: str | None,
    answer: str | None = None,
    model_version: str | None = None,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> tuple[bytes, str]:
    """A multipart body as the page sends it: (body, Content-Type header)."""
    fields: dict[str, tuple[str | None, bytes, str | None]] = {
        "image": (filename, photo, content_type)
    }
    for name, value in (("label", label), ("answer", answer), ("model_version", model_version)):
        if value is not None:
            fields[name] = (None, value.encode("utf-8"), None)
    return multipart(fields)


def folder_items(root: Path) -> dict[str, tuple[dict[str, Any], bytes, str]]:
    """``{id: (record, photo bytes, photo path relative to root)}`` of a folder backend."""
    items = {}
    for record_path in sorted(root.glob("items/*/*.json")):
        record = json.loads(record_path.read_text(encoding="utf-8"))
        photo = record_path.parent / record["photo"]
        items[record["id"]] = (record, photo.read_bytes(), photo.relative_to(root).as_posix())
    return items


def container_items(container: Any) -> dict[str, tuple[dict[str, Any], bytes, str]]:
    """The same, read from a Blob container through the SDK."""
    names = [blob.name for blob in container.list_blobs(name_starts_with="items/")]
    items = {}
    for name in names:
        if name.endswith(".json"):
            record = json.loads(container.download_blob(name).readall())
            photo_name = name.rsplit("/", 1)[0] + "/" + record["photo"]
            assert photo_name in names, f"{name} has no photo"
            photo = container.download_blob(photo_name).readall()
            items[record["id"]] = (record, photo, photo_name)
    return items


def start_azurite(workspace: Path):
    """A running Azurite, or a failure that says how to install it (a skip outside CI)."""
    from devhost.azurite import Azurite, AzuriteMissing

    try:
        return Azurite(workspace).start()
    except AzuriteMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(exc.message, pytrace=False)
        pytest.skip(exc.message)
