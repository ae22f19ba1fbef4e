"""Shared helpers of the Function and dev host tests: requests, multipart bodies, bad images."""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func

import function_app

ROOT = Path(__file__).resolve().parents[2]

HANDLERS = {
    "classify": function_app.classify,
    "model": function_app.model,
    "health": function_app.health,
    "feedback": function_app.feedback,
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
    params: dict[str, str] | None = None,
) -> Reply:
    """Call a handler directly, as the Functions worker would (query string as ``params``)."""
    request = func.HttpRequest(
        method=method,
        url=f"http://localhost:7071/api/{route}",
        headers=headers or {},
        body=body,
        params=params or {},
    )
    return reply_from_function(HANDLERS[route](request))


def reset_function_state() -> None:
    """Forget loaded models so a test's MODEL_PATH takes effect from a clean slate."""
    import isit.bundle

    isit.bundle._bundles.clear()
    isit.bundle._failures.clear()


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


# ---------------------------------------------------------------- malformed requests (fuzz)

IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
CONTENT_TYPES = (
    "image/jpeg",
    "image/png",
    "image/*",
    "image/webp",
    "application/octet-stream",
    "IMAGE/JPEG; charset=utf-8",
    "text/plain",
    "application/json",
    "",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary="unterminated',
    "application/x-www-form-urlencoded",
    "image",
    "/",
    ";;;",
    "image/jpeg\x00",
    "ímage/jpég",
    "multipart/mixed; boundary=x",
)
METHODS = ("POST",) * 12 + ("GET", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass
class FuzzCase:
    kind: str
    method: str
    headers: dict[str, str]
    body: bytes


def _base_images() -> dict[str, bytes]:
    import modelgen

    images = {
        fmt: modelgen.photo("red", (64, 48), fmt, seed=i) for i, fmt in enumerate(IMAGE_FORMATS)
    }
    images["PROGRESSIVE_JPEG"] = modelgen.photo("blue", (80, 60), "JPEG", progressive=True)
    return images


def _declared_size(fmt: str, data: bytes, width: int, height: int) -> bytes:
    """``data`` with its header claiming ``width x height`` (structure otherwise kept)."""
    if fmt.endswith("JPEG"):
        return jpeg_with_size(data, width, height)
    buf = bytearray(data)
    if fmt == "PNG":
        ihdr = bytes(buf[16:29])
        ihdr = struct.pack(">II", width, height) + ihdr[8:]
        buf[16:29] = ihdr
        buf[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    elif fmt == "GIF":
        buf[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
    elif fmt == "BMP":
        buf[18:26] = struct.pack("<ii", width, height)
    elif fmt == "WEBP":
        # VP8 frame header: 14-bit dimensions after the start code.
        at = bytes(buf).find(b"\x9d\x01\x2a")
        if at > 0:
            buf[at + 3 : at + 7] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    elif fmt == "TIFF":
        return png_bomb(width, height)
    return bytes(buf)


def _multipart_variants(rng, image: bytes) -> tuple[bytes, str]:
    body, ctype = multipart({"image": ("photo.jpg", image, "image/jpeg")}, boundary="b0und")
    choice = rng.randrange(10)
    if choice == 0:  # truncated anywhere
        return body[: rng.randrange(len(body))], ctype
    if choice == 1:  # header names another boundary
        return body, "multipart/form-data; boundary=other"
    if choice == 2:  # no boundary parameter at all
        return body, "multipart/form-data"
    if choice == 3:  # closing delimiter missing
        return body.replace(b"--b0und--", b""), ctype
    if choice == 4:  # garbage part headers
        return body.replace(b"Content-Disposition", bytes(rng.randbytes(12))), ctype
    if choice == 5:  # an absurdly long boundary
        long = "x" * rng.randrange(71, 5000)
        return multipart({"image": ("a", image, None)}, boundary=long)
    if choice == 6:  # only a preamble
        return rng.randbytes(rng.randrange(1, 300)), ctype
    if choice == 7:  # two image fields, one empty
        body, ctype = multipart({"image": ("a", b"", None)}, boundary="b0und")
        return body + body, ctype
    if choice == 8:  # CRLFs stripped
        return body.replace(b"\r\n", b"\n"), ctype
    return body[: rng.randrange(len(body))] + rng.randbytes(rng.randrange(200)), ctype


def fuzz_cases(count: int, seed: int = 1234) -> list[FuzzCase]:
    """``count`` malformed requests from a seeded generator (the same ones every run)."""
    import random

    rng = random.Random(seed)
    images = _base_images()
    names = list(images)
    cases: list[FuzzCase] = []
    for _ in range(count):
        kind = rng.choice(
            ("random", "truncated", "corrupted", "dimensions", "multipart", "headers")
        )
        fmt = rng.choice(names)
        image = images[fmt]
        ctype = rng.choice(CONTENT_TYPES)
        method = "POST"
        headers: dict[str, str] = {}
        if kind == "random":
            body = rng.randbytes(rng.randrange(0, 4096))
        elif kind == "truncated":
            body = image[: rng.randrange(0, len(image))]
            ctype = rng.choice(("image/jpeg", "application/octet-stream", ctype))
        elif kind == "corrupted":
            buf = bytearray(image)
            for _ in range(rng.randrange(1, 24)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            body = bytes(buf)
            ctype = rng.choice(("image/png", "application/octet-stream", ctype))
        elif kind == "dimensions":
            huge = rng.random() < 0.8
            top = 65_535 if huge else 3_000
            width, height = rng.randrange(1, top), rng.randrange(1, top)
            body = _declared_size(fmt, image, width, height)
            ctype = "application/octet-stream"
        elif kind == "multipart":
            body, ctype = _multipart_variants(rng, image)
        else:
            body = image if rng.random() < 0.5 else rng.randbytes(rng.randrange(0, 512))
            method = rng.choice(METHODS)
            headers["Content-Length"] = rng.choice(
                ("-1", "abc", "99999999999999999999", "", " 12 ", str(len(body)), "0x10")
            )
            if rng.random() < 0.3:
                headers["Origin"] = rng.choice(("null", "https://evil.example", "\x7f", ""))
        if ctype and "Content-Type" not in headers:
            headers["Content-Type"] = ctype
        cases.append(FuzzCase(kind, method, headers, body))
    return cases
