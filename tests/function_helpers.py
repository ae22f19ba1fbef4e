"""Shared helpers of the Function and dev host tests: requests, multipart bodies, bad images."""

from __future__ import annotations

import json
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # function_app.py lives at the project root
    sys.path.insert(0, str(ROOT))

import function_app  # noqa: E402

HANDLERS = {
    "classify": function_app.classify,
    "model": function_app.model,
    "health": function_app.health,
}
SETTINGS = ("MODEL_PATH", "ALLOWED_ORIGINS", "MAX_UPLOAD_BYTES", "MAX_IMAGE_PIXELS")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def reply_from_function(response: func.HttpResponse) -> Reply:
    """What the Python worker sends for an HttpResponse (Content-Type from the mimetype)."""
    headers = {k.lower(): v for k, v in response.headers.items()}
    if "content-type" not in headers:
        mimetype = response.mimetype
        headers["content-type"] = (
            f"{mimetype}; charset={response.charset}" if mimetype.startswith("text/") else mimetype
        )
    return Reply(response.status_code, headers, response.get_body())


def call(
    route: str,
    method: str = "POST",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Reply:
    """Call a handler directly, as the Functions worker would."""
    request = func.HttpRequest(
        method=method, url=f"http://localhost:7071/api/{route}", headers=headers or {}, body=body
    )
    return reply_from_function(HANDLERS[route](request))


def reset_function_state() -> None:
    """Forget loaded models so a test's MODEL_PATH takes effect from a clean slate."""
    import isit.bundle

    function_app._models.clear()
    isit.bundle._bundles.clear()


def multipart(
    fields: dict[str, tuple[str | None, bytes, str | None]], boundary: str = "isitTestBoundary42"
) -> tuple[bytes, str]:
    """A multipart/form-data body: ``{name: (filename or None, data, content type or None)}``."""
    parts = []
    for name, (filename, data, ctype) in fields.items():
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        parts.append(head.encode() + b"\r\n" + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny, valid-looking PNG whose header declares ``width x height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # A few rows of zeros; a decoder that trusted the header would allocate it all.
    idat = zlib.compress(b"\x00" * (1 + 3 * min(width, 4096)) * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A JPEG whose SOF marker claims another size (the scan data stays the same)."""
    data = bytearray(jpeg)
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5 : i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise ValueError("no SOF marker found")
